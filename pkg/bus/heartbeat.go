package bus

// heartbeatPrefix starts every heartbeat subject.
const heartbeatPrefix = "lynkr.heartbeat."

// HeartbeatSubject is where an instance of a service says it is alive, over core NATS:
// lynkr.heartbeat.<service>.<instance>. Both must be valid subject tokens (ValidToken).
func HeartbeatSubject(service, instance string) string {
	return heartbeatPrefix + service + "." + instance
}

// HeartbeatWildcard is the subscription of whoever watches every instance: the aggregator.
const HeartbeatWildcard = heartbeatPrefix + ">"
