package check

import "strconv"

// Path names a place in the body, such as messages[2].content[0].text: a chain of values on
// the stack, formatted only when a problem is found there.
type Path struct {
	up   *Path
	name string // a member's name, or "" for element i of up
	i    int
}

// Named returns the path of the body's member name.
func Named(name string) Path { return Path{name: name} }

// At returns the path of member name of p.
func (p *Path) At(name string) Path { return Path{up: p, name: name} }

// Index returns the path of element i of p.
func (p *Path) Index(i int) Path { return Path{up: p, i: i} }

// String formats p as a problem sentence names it, such as messages[2].content.
func (p *Path) String() string { return string(p.append(make([]byte, 0, 32))) }

func (p *Path) append(b []byte) []byte {
	if p.up != nil {
		b = p.up.append(b)
	}
	if p.name == "" {
		b = append(b, '[')
		b = strconv.AppendInt(b, int64(p.i), 10)
		return append(b, ']')
	}
	if len(b) > 0 {
		b = append(b, '.')
	}
	return append(b, p.name...)
}
