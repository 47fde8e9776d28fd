package bus

import "testing"

func TestReplyTargetTellsAnAnswerFromAConfirmation(t *testing.T) {
	for _, c := range []struct {
		subject string
		id      string
		ack     bool
	}{
		{ReplySubject("gw-1", "req_abc"), "req_abc", false},
		{AckSubject("gw-1", "req_abc"), "req_abc", true},
		{ReplySubject("gw-1", "client-id-ack"), "client-id-ack", false}, // an id may end in "ack"
		{AckSubject("gw-1", "client-id-ack"), "client-id-ack", true},
		{ReplySubject("gw-1", "ack"), "ack", false},
		{AckSubject("gw-1", "ack"), "ack", true},
	} {
		id, ack := ReplyTarget(c.subject)
		if id != c.id || ack != c.ack {
			t.Errorf("ReplyTarget(%q) = %q, %v; want %q, %v", c.subject, id, ack, c.id, c.ack)
		}
	}
}

func TestGatewayOfReplyNamesTheInstanceThatHoldsTheClient(t *testing.T) {
	if gw, ok := GatewayOfReply(ReplySubject("gw-1", "req_abc")); !ok || gw != "gw-1" {
		t.Errorf("GatewayOfReply(ReplySubject(gw-1, req_abc)) = %q, %v", gw, ok)
	}
	for _, s := range []string{"", "lynkr.resp.", "lynkr.req.openai", "other.gw-1.req"} {
		if gw, ok := GatewayOfReply(s); ok {
			t.Errorf("GatewayOfReply(%q) = %q, true; want no gateway", s, gw)
		}
	}
}
