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
