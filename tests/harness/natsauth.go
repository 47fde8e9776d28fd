package harness

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lynkr/lynkr/pkg/bus"
)

// SecureNATS is a nats-server process that requires authentication: one user per role, named
// for it, with a random password and the permissions lynkr ships in
// deployments/nats/permissions/<role>.conf.
type SecureNATS struct {
	URL  string
	Proc *Proc
	// Passwords of the role users.
	Passwords map[bus.Role]string
}

// NATSWithUsers starts a SecureNATS with JetStream on a free port.
func NATSWithUsers(t testing.TB, b *Binaries) *SecureNATS {
	t.Helper()
	root, err := workspaceRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "permissions"), 0o700); err != nil {
		t.Fatal(err)
	}
	n := &SecureNATS{Passwords: map[bus.Role]string{}}
	var users []string
	for _, role := range bus.Roles() {
		// The files as shipped: TestPermissionsConf in pkg/bus keeps them equal to bus.Permissions.
		perms, err := os.ReadFile(filepath.Join(root, "deployments", "nats", "permissions", string(role)+".conf"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "permissions", string(role)+".conf"), perms, 0o600); err != nil {
			t.Fatal(err)
		}
		n.Passwords[role] = randomPassword(t)
		users = append(users, fmt.Sprintf("    {user: %s, password: %q, permissions: {include \"permissions/%s.conf\"}}", role, n.Passwords[role], role))
	}
	port := FreePort(t)
	conf := filepath.Join(dir, "nats.conf")
	body := fmt.Sprintf("listen: 127.0.0.1:%d\nmax_payload: %d\njetstream {\n  store_dir: %q\n}\nauthorization {\n  users: [\n%s\n  ]\n}\n",
		port, bus.MaxMessageBytes, filepath.Join(dir, "js"), strings.Join(users, "\n"))
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Proc = Start(t, "nats-server", b.NATSServer, nil, "-c", conf)
	n.URL = "nats://127.0.0.1:" + strconv.Itoa(port)
	WaitTCP(t, fmt.Sprintf("127.0.0.1:%d", port), 10*time.Second)
	return n
}

// Env is the settings of a service that connects as role.
func (n *SecureNATS) Env(role bus.Role) map[string]string {
	return map[string]string{"NATS_URL": n.URL, "NATS_USER": string(role), "NATS_PASSWORD": n.Passwords[role]}
}

func randomPassword(t testing.TB) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}
