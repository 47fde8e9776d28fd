package bus

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/lynkr/lynkr/pkg/config"
)

// ClientAuth is how a service proves who it is to NATS and checks the server's certificate,
// with the settings of the nats command-line tool (ReadClientAuth). The zero value connects
// without credentials, to a server that asks for none.
type ClientAuth struct {
	// Role is what the credentials are for. The connection takes its replies on the role's
	// inbox prefix (InboxPrefix), the only inboxes its permissions let it read: one role
	// cannot read what the bus delivers to another, such as the requests a worker pulls.
	// Empty for the all-in-one's own connection, which carries every role.
	Role Role
	// Creds is a credentials file holding a user JWT and its NKey seed (NATS_CREDS), for a
	// server in operator mode.
	Creds string
	// NKey is a file holding a user NKey seed (NATS_NKEY).
	NKey string
	// User and Password are a user of the server's configuration (NATS_USER, NATS_PASSWORD).
	User     string
	Password config.Secret
	// Token is the server's authorization token (NATS_TOKEN).
	Token config.Secret
	// CA is a PEM file of the authorities that sign the server's certificate (NATS_CA).
	// Setting it requires TLS; a tls:// URL requires it with the system's authorities.
	CA string
	// Cert and Key are a PEM client certificate and its key, for a server that verifies its
	// clients (NATS_CERT, NATS_KEY).
	Cert, Key string
}

// ReadClientAuth reads the NATS credential and TLS settings of a service of role and checks
// them as far as can be done before connecting: one way of authenticating at most, pairs
// complete, files that exist and parse. A problem is recorded on e, naming the variable;
// passwords and tokens are config.Secrets and never printed.
func ReadClientAuth(e *config.Env, role Role) ClientAuth {
	a := ClientAuth{
		Role:     role,
		Creds:    e.String("NATS_CREDS", ""),
		NKey:     e.String("NATS_NKEY", ""),
		User:     e.String("NATS_USER", ""),
		Password: e.Secret("NATS_PASSWORD"),
		Token:    e.Secret("NATS_TOKEN"),
		CA:       e.String("NATS_CA", ""),
		Cert:     e.String("NATS_CERT", ""),
		Key:      e.String("NATS_KEY", ""),
	}
	if p := a.problem(); p != nil {
		e.Check(false, p.name, p.value, p.want)
	}
	return a
}

// Configured reports whether a holds a credential or a TLS setting: whether any of its
// variables was set.
func (a ClientAuth) Configured() bool {
	return a.Creds != "" || a.NKey != "" || a.User != "" || !a.Password.IsZero() || !a.Token.IsZero() ||
		a.CA != "" || a.Cert != "" || a.Key != ""
}

// problem is what is wrong with one variable of ClientAuth: its name, its printable value and
// what it should be.
type problem struct{ name, value, want string }

// problem finds the first problem of a; nil if there is none.
func (a ClientAuth) problem() *problem {
	bad := func(name, value, want string) *problem { return &problem{name, value, want} }
	var ways []string
	for _, w := range []struct {
		name string
		set  bool
	}{{"NATS_CREDS", a.Creds != ""}, {"NATS_NKEY", a.NKey != ""}, {"NATS_USER", a.User != ""}, {"NATS_TOKEN", !a.Token.IsZero()}} {
		if w.set {
			ways = append(ways, w.name)
		}
	}
	switch {
	case len(ways) > 1:
		return bad(ways[1], a.value(ways[1]), "want one way of authenticating to NATS, but "+strings.Join(ways, " and ")+" are both set")
	case a.User != "" && a.Password.IsZero():
		return bad("NATS_USER", a.User, "want NATS_PASSWORD with it")
	case a.User == "" && !a.Password.IsZero():
		return bad("NATS_PASSWORD", config.Redacted, "want NATS_USER with it")
	case (a.Cert == "") != (a.Key == ""):
		if a.Cert == "" {
			return bad("NATS_KEY", a.Key, "want NATS_CERT with it: a client certificate and its key")
		}
		return bad("NATS_CERT", a.Cert, "want NATS_KEY with it: a client certificate and its key")
	}
	// The files are read at each connection: read them now, with nats.go's own code, to fail
	// at start rather than at the first connection.
	o := nats.GetDefaultOptions()
	if a.CA != "" {
		if err := nats.RootCAs(a.CA)(&o); err != nil {
			return bad("NATS_CA", a.CA, "want a PEM file of certificate authorities: "+err.Error())
		}
	}
	if a.Cert != "" {
		if err := nats.ClientCert(a.Cert, a.Key)(&o); err != nil {
			return bad("NATS_CERT", a.Cert, "want a PEM certificate whose key is in NATS_KEY: "+err.Error())
		}
	}
	if a.NKey != "" {
		if _, err := nats.NkeyOptionFromSeed(a.NKey); err != nil {
			return bad("NATS_NKEY", a.NKey, "want a file holding a user NKey seed (nk -gen user): "+err.Error())
		}
	}
	if a.Creds != "" {
		if err := nats.UserCredentials(a.Creds)(&o); err != nil {
			return bad("NATS_CREDS", a.Creds, "want a credentials file: "+err.Error())
		}
		if _, err := o.UserJWT(); err != nil {
			return bad("NATS_CREDS", a.Creds, "want a credentials file (nsc generate creds): "+err.Error())
		}
		if _, err := o.SignatureCB([]byte("lynkr")); err != nil {
			return bad("NATS_CREDS", a.Creds, "want a credentials file with the user's NKey seed: "+err.Error())
		}
	}
	return nil
}

// value is the printable value of the variable name: a path or a user name, never a secret.
func (a ClientAuth) value(name string) string {
	switch name {
	case "NATS_CREDS":
		return a.Creds
	case "NATS_NKEY":
		return a.NKey
	case "NATS_USER":
		return a.User
	}
	return config.Redacted
}

// options are the nats.go options of a: credentials, TLS and the role's inbox prefix.
func (a ClientAuth) options() ([]nats.Option, error) {
	var opts []nats.Option
	if a.Role != "" {
		opts = append(opts, nats.CustomInboxPrefix(InboxPrefix(a.Role)))
	}
	switch {
	case a.Creds != "":
		opts = append(opts, nats.UserCredentials(a.Creds))
	case a.NKey != "":
		opt, err := nats.NkeyOptionFromSeed(a.NKey)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY=%q: %w", a.NKey, err)
		}
		opts = append(opts, opt)
	case a.User != "":
		opts = append(opts, nats.UserInfo(a.User, a.Password.Reveal()))
	case !a.Token.IsZero():
		opts = append(opts, nats.Token(a.Token.Reveal()))
	}
	if a.CA != "" {
		opts = append(opts, nats.RootCAs(a.CA))
	}
	if a.Cert != "" {
		opts = append(opts, nats.ClientCert(a.Cert, a.Key))
	}
	return opts, nil
}

// refused reports an error of the first connection that retrying will not mend: the server
// refused the credentials, or its certificate or TLS setup does not match the client's.
func refused(err error) bool {
	var verify *tls.CertificateVerificationError
	return errors.Is(err, nats.ErrAuthorization) || errors.Is(err, nats.ErrAuthExpired) ||
		errors.Is(err, nats.ErrAuthRevoked) || errors.Is(err, nats.ErrAccountAuthExpired) ||
		errors.Is(err, nats.ErrSecureConnWanted) || errors.Is(err, nats.ErrSecureConnRequired) ||
		errors.As(err, &verify)
}
