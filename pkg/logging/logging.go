// Package logging builds the JSON slog logger every lynkr service writes with.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/lynkr/lynkr/pkg/config"
)

// New returns a JSON logger writing to w at LOG_LEVEL (error, warn, info or debug; info by
// default).
func New(lookup config.Lookup, w io.Writer) (*slog.Logger, error) {
	level := slog.LevelInfo
	if v, ok := lookup("LOG_LEVEL"); ok && v != "" {
		if err := level.UnmarshalText([]byte(strings.TrimSpace(v))); err != nil {
			return nil, fmt.Errorf("LOG_LEVEL=%q: want error, warn, info or debug", v)
		}
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level})), nil
}
