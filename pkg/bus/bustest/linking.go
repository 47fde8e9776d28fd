package bustest

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// serverModule is the import path of nats-server's packages.
const serverModule = "github.com/nats-io/nats-server/"

// NoServerLinked fails the test if the package in the test's directory, a command, links
// nats-server. Only the all-in-one embeds the server (package natsserver); a service that
// connects to a bus needs pkg/bus alone, and the server would add to its binary what it never
// runs. It asks go list, which reads imports without building: a second or two.
func NoServerLinked(tb testing.TB) {
	tb.Helper()
	out, err := exec.Command("go", "list", "-deps", "-f", `{{.ImportPath}}{{range .Imports}} {{.}}{{end}}`, ".").Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			err = fmt.Errorf("%w\n%s", err, exit.Stderr)
		}
		tb.Fatalf("go list -deps: %v", err)
	}
	var importers []string // the packages outside nats-server that import it
	for line := range strings.Lines(string(out)) {
		pkg, imports, _ := strings.Cut(strings.TrimSpace(line), " ")
		if strings.HasPrefix(pkg, serverModule) {
			continue
		}
		for imp := range strings.FieldsSeq(imports) {
			if strings.HasPrefix(imp, serverModule) {
				importers = append(importers, pkg+" imports "+imp)
			}
		}
	}
	if len(importers) > 0 {
		tb.Errorf("this command links nats-server, which only the all-in-one may embed:\n  %s", strings.Join(importers, "\n  "))
	}
}
