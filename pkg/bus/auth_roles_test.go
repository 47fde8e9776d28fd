package bus_test

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lynkr/lynkr/pkg/breaker"
	"github.com/lynkr/lynkr/pkg/bus"
)

var update = flag.Bool("update", false, "rewrite deployments/nats/permissions/*.conf from bus.PermissionsConf")

const deployDir = "../../deployments/nats"

// permissionsFile is where the generated permissions of role are.
func permissionsFile(role bus.Role) string {
	return filepath.Join(deployDir, "permissions", string(role)+".conf")
}

// TestPermissionsConf keeps deployments/nats/permissions/<role>.conf equal to the roles'
// permissions in Go; -update rewrites them.
func TestPermissionsConf(t *testing.T) {
	for _, role := range bus.Roles() {
		file, want := permissionsFile(role), bus.PermissionsConf(role)
		got, err := os.ReadFile(file)
		if err != nil && !*update {
			t.Fatal(err)
		}
		if string(got) == want {
			continue
		}
		if *update {
			if err := os.WriteFile(file, []byte(want), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote %s", file)
			continue
		}
		g, w := strings.Split(string(got), "\n"), strings.Split(want, "\n")
		for i := range max(len(g), len(w)) {
			var gl, wl string
			if i < len(g) {
				gl = g[i]
			}
			if i < len(w) {
				wl = w[i]
			}
			if gl != wl {
				t.Errorf("%s differs from bus.PermissionsConf(%s) at line %d:\n  file: %s\n  Go:   %s\nrun go test ./bus -run TestPermissionsConf -update to rewrite it", file, role, i+1, gl, wl)
				break
			}
		}
	}
}

func TestRolesMayDoOnlyTheirPart(t *testing.T) {
	type check struct {
		role    bus.Role
		publish bool // else subscribe
		subject string
		allowed bool
	}
	req := bus.RequestSubject("openai")
	for _, c := range []check{
		{bus.RoleGateway, true, req, true},
		{bus.RoleGateway, true, bus.CancelSubject("r1"), true},
		{bus.RoleGateway, false, bus.ReplyWildcard("gw-1"), true},
		{bus.RoleGateway, false, bus.HoldingSubject("gw-1"), true},
		{bus.RoleGateway, false, bus.RequestSubject(">"), false},
		{bus.RoleGateway, true, bus.ReplySubject("gw-1", "r1"), false},
		{bus.RoleGateway, true, bus.HeartbeatSubject("worker", "w1"), false},
		{bus.RoleGateway, false, bus.InboxPrefix(bus.RoleWorker) + ".x", false},
		{bus.RoleWorker, true, req, false},
		{bus.RoleWorker, true, bus.ReplySubject("gw-1", "r1"), true},
		{bus.RoleWorker, true, bus.UsageSubject("openai"), true},
		{bus.RoleWorker, true, bus.HoldingSubject("gw-1"), true},
		{bus.RoleWorker, true, bus.HeartbeatSubject("worker", "w1"), true},
		{bus.RoleWorker, true, bus.HeartbeatSubject("gateway", "w1"), false},
		{bus.RoleWorker, true, bus.CancelSubject("r1"), false},
		{bus.RoleWorker, true, "$KV." + breaker.Bucket + ".openai", true},
		{bus.RoleWorker, true, "$KV." + bus.ProviderBucket + ".openai", true},
		{bus.RoleWorker, true, "$JS.API.STREAM.DELETE." + bus.RequestStream, false},
		{bus.RoleWorker, true, "$JS.API.STREAM.CREATE.EVIL", false},
		{bus.RoleWorker, false, bus.CancelWildcard, true},
		{bus.RoleWorker, false, bus.RequestSubject("openai"), false},
		{bus.RoleWorker, false, bus.ReplyWildcard("gw-1"), false},
		{bus.RoleAggregator, false, bus.HeartbeatWildcard, true},
		{bus.RoleAggregator, true, bus.HeartbeatSubject("aggregator", "a1"), true},
		{bus.RoleAggregator, true, req, false},
		{bus.RoleAggregator, true, "$JS.API.CONSUMER.CREATE." + bus.RequestStream + ".x", false},
		{bus.RoleAggregator, true, "$JS.API.CONSUMER.MSG.NEXT." + bus.RequestStream + ".worker-openai", false},
		{bus.RoleAggregator, true, "$JS.API.DIRECT.GET." + bus.RequestStream, false},
		{bus.RoleAggregator, true, "$JS.API.STREAM.MSG.GET." + bus.RequestStream, false},
		{bus.RoleAggregator, true, "$KV." + breaker.Bucket + ".openai", false},
		{bus.RoleAggregator, false, bus.ReplyWildcard("*"), false},
		{bus.RoleAggregator, false, "_INBOX.>", false},
		{bus.RoleAggregator, false, bus.InboxPrefix(bus.RoleWorker) + ".x", false},
	} {
		p := bus.Permissions(c.role)
		allow, deny := p.Subscribe, []string(nil)
		if c.publish {
			allow, deny = p.Publish, p.DenyPublish
		}
		got := matchesAny(allow, c.subject) && !matchesAny(deny, c.subject)
		if got != c.allowed {
			t.Errorf("%s may %s %s: %v, want %v", c.role, map[bool]string{true: "publish to", false: "subscribe to"}[c.publish], c.subject, got, c.allowed)
		}
	}
	if p := bus.Permissions("stranger"); len(p.Publish)+len(p.Subscribe) != 0 {
		t.Errorf("an unknown role may do %+v", p)
	}
}

// matchesAny reports whether one of the patterns covers subject, which may itself hold
// wildcards (a subscription), by NATS's rules: * is one token, > the rest.
func matchesAny(patterns []string, subject string) bool {
	return slices.ContainsFunc(patterns, func(p string) bool { return covers(p, subject) })
}

func covers(pattern, subject string) bool {
	p, s := strings.Split(pattern, "."), strings.Split(subject, ".")
	for i, pt := range p {
		if pt == ">" {
			return len(s) > i
		}
		if i >= len(s) || s[i] == ">" || (pt != "*" && pt != s[i]) || (pt != "*" && s[i] == "*") {
			return false
		}
	}
	return len(p) == len(s)
}

// The permissions name the breaker bucket that pkg/breaker uses.
func TestPermissionsCoverTheBreakerBucket(t *testing.T) {
	want := "$JS.API.STREAM.INFO.KV_" + breaker.Bucket
	for _, role := range bus.Roles() {
		if !slices.Contains(bus.Permissions(role).Publish, want) {
			t.Errorf("%s may not read the breaker bucket %s", role, breaker.Bucket)
		}
	}
}
