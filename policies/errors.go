package policies

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong with a policy file, at a line of it.
type Problem struct {
	// File is the name of the policy file.
	File string `json:"file"`
	// Line is the line the problem is at, counted from 1, or 0 when it is
	// about the whole file.
	Line int `json:"line,omitempty"`
	// Message says what is wrong and what is allowed instead.
	Message string `json:"message"`
}

// String formats the problem as file:line: message, the way compilers do,
// so that editors can jump to it.
func (p Problem) String() string {
	if p.Line == 0 {
		return p.File + ": " + p.Message
	}
	return p.File + ":" + strconv.Itoa(p.Line) + ": " + p.Message
}

// ValidationError lists everything wrong with a policy file, sorted by
// line. Parse returns it, rather than stopping at the first problem, so
// that one run of `rempart policy validate` shows them all.
type ValidationError struct {
	// Problems are the problems found, sorted by line.
	Problems []Problem
}

// Error writes one problem per line.
func (e *ValidationError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// problems collects what is wrong with a policy file while it is compiled.
type problems struct {
	file string
	list []Problem
	// typos are the fields that a mapping spells wrong, such as acton for
	// action: that the field is then missing is not a second problem,
	// reported at the start of the mapping, away from the typo's line.
	typos []typo
}

// typo is a misspelt field of the mapping that starts at line.
type typo struct {
	line  int
	field string
}

// misspelt records that the mapping starting at line has a key that looks
// like a typo for field.
func (ps *problems) misspelt(line int, field string) {
	ps.typos = append(ps.typos, typo{line, field})
}

// missingTypo reports whether p only says that a field is missing from a
// mapping where the field was misspelt, which is reported already.
func (ps *problems) missingTypo(p Problem) bool {
	for _, t := range ps.typos {
		if t.line == p.Line && (strings.Contains(p.Message, " has no "+t.field) ||
			strings.Contains(p.Message, " needs "+t.field) || strings.Contains(p.Message, " needs a "+t.field)) {
			return true
		}
	}
	return false
}

// add records a problem at line.
func (ps *problems) add(line int, message string) {
	ps.list = append(ps.list, Problem{File: ps.file, Line: line, Message: message})
}

// err returns the problems as a *ValidationError sorted by line, or nil
// when there are none.
func (ps *problems) err() error {
	if len(ps.typos) > 0 {
		ps.list = slices.DeleteFunc(ps.list, ps.missingTypo)
	}
	if len(ps.list) == 0 {
		return nil
	}
	slices.SortStableFunc(ps.list, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
	return &ValidationError{Problems: ps.list}
}
