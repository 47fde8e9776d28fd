package natsserver

import (
	"github.com/nats-io/nats-server/v2/server"

	"github.com/lynkr/lynkr/pkg/bus"
)

// permissions is p as the server's options take it: what bus.PermissionsConf writes as
// configuration text for a server run apart, given to the embedded server's users.
func permissions(p bus.SubjectPermissions) *server.Permissions {
	out := &server.Permissions{
		Publish:   &server.SubjectPermission{Allow: p.Publish, Deny: p.DenyPublish},
		Subscribe: &server.SubjectPermission{Allow: p.Subscribe},
	}
	if p.Respond {
		out.Response = &server.ResponsePermission{} // the server's defaults: one answer, within two minutes
	}
	return out
}
