package bus

import (
	"fmt"
	"strings"
)

// Role is what one kind of lynkr service may do on the bus: the subject permissions of its NATS
// user. A NATS client with bus access but another role's credentials cannot act as this role:
// only a gateway's credentials put a request where workers run it with the provider's key.
type Role string

// The roles: one per service.
const (
	// RoleGateway publishes requests and their cancellations, takes the answers addressed to
	// it, answers workers asking which requests it still holds, and charges usage.
	RoleGateway Role = "gateway"
	// RoleWorker takes requests from JetStream and answers them, reports usage, announces its
	// providers and shares breaker states. It cannot publish a request.
	RoleWorker Role = "worker"
	// RoleAggregator reads heartbeats, the provider and breaker buckets and the request
	// backlogs, for the cluster view. It reads no request and no answer, and publishes
	// nothing but its own heartbeat.
	RoleAggregator Role = "aggregator"
)

// Roles lists every role.
func Roles() []Role { return []Role{RoleGateway, RoleWorker, RoleAggregator} }

// InboxPrefix is where the connections of role take their replies: JetStream's answers, the
// requests a worker pulls, key-value updates. Each role reads only its own, so the
// aggregator, say, cannot read the prompts delivered to workers.
func InboxPrefix(role Role) string { return "_INBOX." + string(role) }

// SubjectPermissions is what a role's NATS user may publish and subscribe to: subjects with
// NATS wildcards, as in a nats-server configuration.
type SubjectPermissions struct {
	// Publish is every subject the user may publish to, the JetStream API's included.
	Publish []string
	// DenyPublish is refused even where Publish allows it: the requests, for the roles that
	// must never put one on the bus, said outright so that a broader allow added by hand in
	// a server's configuration does not open them.
	DenyPublish []string
	// Subscribe is every subject the user may subscribe to.
	Subscribe []string
	// Respond lets the user answer a request it received, once, on the request's reply
	// subject (allow_responses), without the right to publish to inboxes at large.
	Respond bool
}

// Permissions is what role may do. An unknown role may do nothing. The JetStream part names
// each stream and the operations on it the services use (checked by running them: see
// tests/cluster/busauth_test.go); a new stream, bucket or consumer needs its entry here.
func Permissions(role Role) SubjectPermissions {
	requests, usage := RequestStream, UsageStream
	providers, breakers := ProviderBucket, BreakerBucket
	switch role {
	case RoleGateway:
		return SubjectPermissions{
			Publish: join(
				[]string{requestPrefix + ">", cancelPrefix + ">", HeartbeatSubject(string(role), "*"), jsAPI("INFO")},
				setUp(requests, usage, BucketStream(providers), BucketStream(breakers)),
				[]string{jsAPI("CONSUMER.INFO", requests, "*")}, // the backlogs, for load shedding
				consume(usage, ">"), // the charger's durable consumer
				readKV(providers), readKV(breakers),
			),
			Subscribe: []string{ReplyWildcard("*"), HoldingWildcard, InboxPrefix(role) + ".>"},
			Respond:   true, // to the workers' HoldingSubject requests
		}
	case RoleWorker:
		return SubjectPermissions{
			Publish: join(
				[]string{replyPrefix + ">", usagePrefix + ">", HoldingWildcard, HeartbeatSubject(string(role), "*"), jsAPI("INFO")},
				// The request stream as gateways made it: created if a worker comes first, never
				// changed, so a worker's credentials cannot reshape it (add a source, say) to
				// inject requests.
				[]string{jsAPI("STREAM.INFO", requests), jsAPI("STREAM.CREATE", requests)},
				setUp(usage, BucketStream(providers), BucketStream(breakers)),
				consume(requests, "*."+requestPrefix+"*"), // one durable consumer per provider, filtered
				readKV(providers), writeKV(providers),
				readKV(breakers), writeKV(breakers),
			),
			DenyPublish: []string{requestPrefix + ">"},
			Subscribe:   []string{CancelWildcard, InboxPrefix(role) + ".>"},
		}
	case RoleAggregator:
		return SubjectPermissions{
			Publish: join(
				[]string{HeartbeatSubject(string(role), "*"), jsAPI("INFO")},
				[]string{jsAPI("STREAM.INFO", requests), jsAPI("STREAM.INFO", usage)}, // metadata, not messages
				[]string{jsAPI("STREAM.LIST")},                                        // its Keeper finds buckets made again
				[]string{jsAPI("CONSUMER.INFO", requests, "*")},                       // the backlogs
				readKV(providers), readKV(breakers),
			),
			DenyPublish: []string{requestPrefix + ">"},
			Subscribe:   []string{HeartbeatWildcard, InboxPrefix(role) + ".>"},
		}
	}
	return SubjectPermissions{}
}

// jsAPI is the subject of a JetStream API operation, such as jsAPI("STREAM.INFO", name).
func jsAPI(op string, args ...string) string {
	return strings.Join(append([]string{"$JS.API." + op}, args...), ".")
}

// setUp lets the user create the streams, or update them to its configuration, as
// Setup and breaker.EnsureBucket do at every start, and list them, as a Keeper does to find
// one the server lost.
func setUp(streams ...string) []string {
	out := []string{jsAPI("STREAM.LIST")}
	for _, s := range streams {
		out = append(out, jsAPI("STREAM.INFO", s), jsAPI("STREAM.CREATE", s), jsAPI("STREAM.UPDATE", s))
	}
	return out
}

// consume lets the user create (or update) durable consumers of stream whose creation subject
// ends in create (the consumer's name and filter), list them (a Keeper does), pull from them
// and acknowledge what they deliver, in the acknowledgement subjects of both formats the
// server may use.
func consume(stream, create string) []string {
	return []string{
		jsAPI("CONSUMER.CREATE", stream, create),
		jsAPI("CONSUMER.INFO", stream, "*"),
		jsAPI("CONSUMER.LIST", stream),
		jsAPI("CONSUMER.MSG.NEXT", stream, "*"),
		"$JS.ACK." + stream + ".>",     // $JS.ACK.<stream>.<consumer>.…
		"$JS.ACK.*.*." + stream + ".>", // $JS.ACK.<domain>.<account>.<stream>.<consumer>.…
	}
}

// readKV lets the user open a bucket, read its keys and watch it: a watcher is an ordered
// consumer that the client creates, replaces (deleting the old one) and answers the flow
// control of.
func readKV(bucket string) []string {
	s := BucketStream(bucket)
	return []string{
		jsAPI("STREAM.INFO", s),
		jsAPI("CONSUMER.CREATE", s, ">"),
		jsAPI("CONSUMER.DELETE", s, "*"),
		jsAPI("DIRECT.GET", s), jsAPI("DIRECT.GET", s, ">"),
		jsAPI("STREAM.MSG.GET", s),
		"$JS.FC." + s + ".>",
		"$JS.FC.*.*." + s + ".>",
	}
}

// writeKV lets the user put keys into a bucket.
func writeKV(bucket string) []string { return []string{"$KV." + bucket + ".>"} }

// join concatenates the lists, dropping repeats and keeping the first place of each.
func join(lists ...[]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, l := range lists {
		for _, s := range l {
			if !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out
}

// PermissionsConf is role's permissions as nats-server configuration, to include in the
// permissions of its users: {user: worker, password: $NATS_WORKER_PASSWORD, permissions:
// {include "permissions/worker.conf"}}, as deployments/nats/nats-server.conf does.
// deployments/nats/permissions/<role>.conf is this text (TestPermissionsConf keeps it so).
func PermissionsConf(role Role) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Subject permissions of lynkr's %s role, for nats-server: include this file in the\n", role)
	fmt.Fprintf(&b, "# permissions of the role's users: permissions: {include \"permissions/%s.conf\"}.\n", role)
	b.WriteString("# Generated from bus.Permissions (pkg/bus/auth_roles.go): do not edit;\n")
	b.WriteString("# go test ./bus -run TestPermissionsConf -update rewrites it.\n")
	p := Permissions(role)
	b.WriteString("publish: {\n")
	writeList(&b, "allow", p.Publish)
	if len(p.DenyPublish) > 0 {
		writeList(&b, "deny", p.DenyPublish)
	}
	b.WriteString("}\nsubscribe: {\n")
	writeList(&b, "allow", p.Subscribe)
	b.WriteString("}\n")
	if p.Respond {
		b.WriteString("allow_responses: true\n")
	}
	return b.String()
}

func writeList(b *strings.Builder, key string, subjects []string) {
	fmt.Fprintf(b, "  %s: [\n", key)
	for _, s := range subjects {
		fmt.Fprintf(b, "    %q\n", s)
	}
	b.WriteString("  ]\n")
}
