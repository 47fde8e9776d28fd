package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/lynkr/lynkr/pkg/apierror"
	"github.com/lynkr/lynkr/pkg/spend"
	"github.com/lynkr/lynkr/pkg/tenant"
)

// The admin API (ADMIN_API_KEY) makes and revokes virtual keys and sets the limits and
// budgets of keys, teams, customers and orgs; GET /v1/usage shows what they spent.
func (g *Gateway) tenancyRoutes(e *echo.Echo) {
	e.GET("/v1/usage", g.usage)
	if g.tenancy != nil && !g.cfg.Tenancy.AdminKey.IsZero() {
		adm := e.Group("/admin", g.adminOnly)
		adm.POST("/keys", g.createKey)
		adm.GET("/keys", g.listKeys)
		adm.GET("/keys/:id", g.getKey)
		adm.DELETE("/keys/:id", g.revokeKey)
		adm.PUT("/policies/:kind/:name", g.setPolicy)
		adm.GET("/policies/:kind/:name", g.getPolicy)
	}
}

// adminOnly lets through requests with the admin key.
func (g *Gateway) adminOnly(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if !g.tenancy.IsAdmin(c.Request().Header) {
			return apierror.New(http.StatusUnauthorized, "the admin API needs the admin key (ADMIN_API_KEY) as x-api-key or Authorization: Bearer")
		}
		return next(c)
	}
}

// authenticated lets through requests with a valid key when authentication is on.
func (g *Gateway) authenticated(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if g.tenancy != nil && g.cfg.Tenancy.Auth {
			if _, err := g.tenancy.Identify(c.Request().Context(), c.Request().Header); err != nil {
				return err
			}
		}
		return next(c)
	}
}

// newKey is the body of POST /admin/keys.
type newKey struct {
	Name     string        `json:"name"`
	Team     string        `json:"team"`
	Customer string        `json:"customer"`
	Org      string        `json:"org"`
	Limits   tenant.Policy `json:"limits"`
	NoCache  bool          `json:"no_cache"`
}

// madeKey is a new key as the admin API returns it: the only time its secret is shown.
type madeKey struct {
	tenant.Key
	Secret string `json:"key"`
}

func (g *Gateway) createKey(c echo.Context) error {
	var req newKey
	if err := decodeStrict(c.Request(), &req); err != nil {
		return err
	}
	var problems []string
	for _, f := range []struct{ field, v string }{{"name", req.Name}, {"team", req.Team}, {"customer", req.Customer}, {"org", req.Org}} {
		if p := tenant.CheckName(f.v); f.v != "" && p != "" {
			problems = append(problems, f.field+": "+p)
		}
	}
	if err := req.Limits.Validate(); err != nil {
		problems = append(problems, "limits: "+err.Error())
	}
	if len(problems) > 0 {
		return apierror.Invalid(problems)
	}
	secret, hash, err := tenant.NewSecret()
	if err != nil {
		return fmt.Errorf("admin: %w", err)
	}
	k := tenant.Key{ID: tenant.NewID(), Name: req.Name, Team: req.Team, Customer: req.Customer, Org: req.Org,
		Prefix: tenant.PrefixOf(secret), Hash: hash, NoCache: req.NoCache, Policy: req.Limits, CreatedAt: time.Now().UTC()}
	if err := g.tenancy.Store().CreateKey(c.Request().Context(), k); err != nil {
		return g.storeError(err)
	}
	g.log.Info("API key created", "key_id", k.ID, "name", k.Name, "team", k.Team)
	return c.JSON(http.StatusCreated, madeKey{Key: k, Secret: secret})
}

func (g *Gateway) listKeys(c echo.Context) error {
	keys, err := g.tenancy.Store().Keys(c.Request().Context())
	if err != nil {
		return g.storeError(err)
	}
	if keys == nil {
		keys = []tenant.Key{}
	}
	return c.JSON(http.StatusOK, map[string]any{"object": "list", "data": keys})
}

func (g *Gateway) getKey(c echo.Context) error {
	k, err := g.tenancy.Store().Key(c.Request().Context(), c.Param("id"))
	if err != nil {
		return g.storeError(err)
	}
	return c.JSON(http.StatusOK, k)
}

// revokeKey revokes a key: every gateway refuses it from its next request on.
func (g *Gateway) revokeKey(c echo.Context) error {
	k, err := g.tenancy.Store().RevokeKey(c.Request().Context(), c.Param("id"), time.Now().UTC())
	if err != nil {
		return g.storeError(err)
	}
	g.log.Info("API key revoked", "key_id", k.ID)
	return c.JSON(http.StatusOK, k)
}

func (g *Gateway) setPolicy(c echo.Context) error {
	s, err := scopeParam(c)
	if err != nil {
		return err
	}
	var p tenant.Policy
	if err := decodeStrict(c.Request(), &p); err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return apierror.Invalid(strings.Split(err.Error(), "\n"))
	}
	if err := g.tenancy.Store().SetPolicy(c.Request().Context(), s, p); err != nil {
		return g.storeError(err)
	}
	g.log.Info("limits set", "scope", s.String(), "limits", p)
	return c.JSON(http.StatusOK, scopePolicy{Kind: s.Kind, Name: s.Name, Limits: p})
}

func (g *Gateway) getPolicy(c echo.Context) error {
	s, err := scopeParam(c)
	if err != nil {
		return err
	}
	ps, err := g.tenancy.Store().Policies(c.Request().Context(), []tenant.Scope{s})
	if err != nil {
		return g.storeError(err)
	}
	return c.JSON(http.StatusOK, scopePolicy{Kind: s.Kind, Name: s.Name, Limits: ps[0]})
}

type scopePolicy struct {
	Kind   tenant.Kind   `json:"kind"`
	Name   string        `json:"name"`
	Limits tenant.Policy `json:"limits"`
}

// scopeUsage is one scope's line in GET /v1/usage. Held is what its requests under way hold
// of its budgets until their usage is charged.
type scopeUsage struct {
	Kind   tenant.Kind   `json:"kind"`
	Name   string        `json:"name"`
	Day    spend.Window  `json:"day"`
	Month  spend.Window  `json:"month"`
	Held   spend.Held    `json:"held"`
	Limits tenant.Policy `json:"limits"`
}

// usage is GET /v1/usage: what a key and its team, customer and org spent today and this
// month, against their budgets. A key sees its own; the admin key names the scopes it wants
// with ?key=, ?team=, ?customer= and ?org=.
func (g *Gateway) usage(c echo.Context) error {
	if g.tenancy == nil {
		return apierror.New(http.StatusNotFound, "usage is recorded per key or team: set AUTH_ENABLED or TRUST_TENANT_HEADERS")
	}
	r := c.Request()
	var scopes []tenant.Scope
	if g.tenancy.IsAdmin(r.Header) {
		q := r.URL.Query()
		for _, k := range tenant.Kinds {
			for _, name := range q[string(k)] {
				scopes = append(scopes, tenant.Scope{Kind: k, Name: name})
			}
		}
		if len(scopes) == 0 {
			return apierror.Invalid([]string{"name the scopes to show: ?key=<id>, ?team=, ?customer= or ?org="})
		}
	} else {
		id, err := g.tenancy.Identify(r.Context(), r.Header)
		if err != nil {
			return err
		}
		if scopes = id.Scopes(); len(scopes) == 0 {
			return apierror.New(http.StatusUnauthorized, "usage is per key or team: send an API key")
		}
	}
	now := time.Now().UTC()
	spent, policies, err := g.tenancy.Spent(r.Context(), scopes, now)
	if err != nil {
		return g.storeError(err)
	}
	out := make([]scopeUsage, len(scopes))
	for i, s := range scopes {
		out[i] = scopeUsage{Kind: s.Kind, Name: s.Name, Day: spent[i].Day, Month: spent[i].Month, Held: spent[i].Held, Limits: policies[i]}
	}
	return c.JSON(http.StatusOK, map[string]any{"object": "usage", "day": now.Format(time.DateOnly), "month": now.Format("2006-01"), "data": out})
}

// storeError is the client's error for a failed store call.
func (g *Gateway) storeError(err error) error {
	switch {
	case errors.Is(err, tenant.ErrNotFound):
		return apierror.New(http.StatusNotFound, "%v", err)
	case errors.Is(err, tenant.ErrExists):
		return apierror.New(http.StatusConflict, "%v", err)
	}
	g.log.Error("tenant store failed", "error", err)
	e := apierror.New(http.StatusServiceUnavailable, "the tenant store is unavailable; retry later")
	e.Type = apierror.TypeOverloaded
	e.RetryAfter = time.Second
	return e
}

func scopeParam(c echo.Context) (tenant.Scope, error) {
	k, err := tenant.ParseKind(c.Param("kind"))
	if err != nil {
		return tenant.Scope{}, apierror.New(http.StatusNotFound, "%v", err)
	}
	name := c.Param("name")
	if p := tenant.CheckName(name); p != "" {
		return tenant.Scope{}, apierror.Invalid([]string{string(k) + ": " + p})
	}
	return tenant.Scope{Kind: k, Name: name}, nil
}

// decodeStrict reads a small JSON body into v, refusing unknown fields.
func decodeStrict(r *http.Request, v any) error {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(http.MaxBytesReader(nil, r.Body, 64<<10)); err != nil {
		return apierror.New(http.StatusBadRequest, "could not read the body: %v", err)
	}
	dec := json.NewDecoder(&buf)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return apierror.Invalid([]string{"body: " + err.Error()})
	}
	return nil
}
