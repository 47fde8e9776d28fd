package anthropic

import (
	"github.com/tidwall/gjson"

	"github.com/lynkr/lynkr/pkg/llm/internal/check"
)

// checker collects the problems of a request: check.Checker's checks of JSON values, and
// validate.go's checks of this API's objects.
type checker struct{ check.Checker }

// field names a member for check.Lookup to read into dst.
func field(name string, dst *gjson.Result) check.Field {
	return check.Field{Name: name, Dst: dst}
}

// maxProblems bounds the problems one request reports.
const maxProblems = check.MaxProblems
