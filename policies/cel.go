package policies

import (
	"fmt"
	"net/textproto"
	"reflect"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"cel.dev/cel-go/interpreter"
	"go.yaml.in/yaml/v3"
)

// Bounds on CEL conditions, so that neither compiling a policy nor
// evaluating it for a request can take long.
const (
	// maxCELLength bounds an expression, in characters.
	maxCELLength = 4096
	// celCostLimit bounds the work of one evaluation, in CEL cost units
	// (about one per operation, and one per few characters a string
	// function reads). An evaluation that exceeds it does not match.
	celCostLimit = 10_000
)

// celRequest is the `request` object CEL expressions see.
type celRequest struct {
	Method    string            `cel:"method"`
	Path      string            `cel:"path"`
	Host      string            `cel:"host"`
	IP        string            `cel:"ip"`
	ASN       int64             `cel:"asn"`
	Org       string            `cel:"org"`
	Class     string            `cel:"class"`
	UserAgent string            `cel:"user_agent"`
	Headers   map[string]string `cel:"headers"`
}

// celEnvironment declares `request` and the string extensions; it is built
// once and shared, as a cel.Env is safe for concurrent use.
var celEnvironment = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[celRequest](), ext.ParseStructTags(true)),
		cel.Variable("request", cel.ObjectType("policies.celRequest")),
		ext.Strings(),
		cel.CrossTypeNumericComparisons(true),
		cel.ParserExpressionSizeLimit(maxCELLength),
	)
})

// celProgram is a compiled CEL condition.
type celProgram struct {
	program cel.Program
}

// celCondition compiles a cel condition, reporting each of CEL's errors at
// its line in the policy file.
func (c *compiler) celCondition(m *conditions, v *yaml.Node, what string) bool {
	text, ok := c.scalar(v, what)
	if !ok {
		return false
	}
	env, err := celEnvironment()
	if err != nil {
		return c.fail(v.Line, fmt.Sprintf("%s: setting up CEL: %v", what, err))
	}
	ast, issues := env.Compile(text)
	if issues.Err() != nil {
		for _, e := range issues.Errors() {
			c.add(celErrorLine(v, text, e.Location.Line(), e.Location.Column(), c.source), fmt.Sprintf("%s: %s (column %d of the expression); request has the fields method, path, host, ip, asn, org, class, user_agent and headers",
				what, strings.TrimSuffix(e.Message, " (in container '')"), e.Location.Column()+1))
		}
		return false
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return c.fail(v.Line, fmt.Sprintf("%s: the expression gives a %s; want true or false, such as request.path.startsWith(\"/api/\")", what, t))
	}
	program, err := env.Program(ast, cel.CostLimit(celCostLimit), cel.EvalOptions(cel.OptOptimize))
	if err != nil {
		return c.fail(v.Line, fmt.Sprintf("%s: %v", what, err))
	}
	m.cel = &celProgram{program: program}
	m.describe("cel %s", strings.Join(strings.Fields(text), " "))
	return true
}

// celErrorLine returns the line of the policy file where line celLine,
// column celColumn (0-based) of the expression text, the value of v, is. A
// literal block (cel: |) keeps the expression's lines as they are in the
// file; a folded block, a plain or a quoted scalar folds them into spaces,
// so the error's offset in text is walked back over the source lines.
func celErrorLine(v *yaml.Node, text string, celLine, celColumn int, source []string) int {
	if v.Style&yaml.LiteralStyle != 0 {
		return v.Line + max(celLine, 1)
	}
	offset := 0
	for i, line := range strings.SplitAfter(text, "\n") {
		if i == max(celLine, 1)-1 {
			offset += celColumn
			break
		}
		offset += len(line)
	}
	first, skip := v.Line, v.Column-1 // a scalar starts on its key's line
	switch {
	case v.Style&yaml.FoldedStyle != 0:
		first, skip = v.Line+1, 0
	case v.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		skip++ // the opening quote
	}
	pos := 0
	for n := first; n <= len(source); n++ {
		line := source[n-1]
		if n == first && skip <= len(line) {
			line = line[skip:]
		}
		line = strings.TrimSpace(line)
		if offset < pos+len(line)+1 {
			return n
		}
		pos += len(line) + 1 // folded into one space (a blank line, one newline)
	}
	return v.Line
}

// matches evaluates the condition. An evaluation that fails (a header
// that is absent, the cost limit reached) does not match.
func (p *celProgram) matches(ev *evaluation) bool {
	if ev.cel == nil {
		ev.cel = newCELRequest(ev)
	}
	out, _, err := p.program.Eval(celActivation{request: ev.cel})
	return err == nil && out == types.True
}

// newCELRequest builds what CEL sees of the request being decided: its
// cleaned path, its host in lower case without port, and its headers with
// canonical names, the values of a repeated header joined by ", ".
func newCELRequest(ev *evaluation) *celRequest {
	req := ev.req
	r := &celRequest{
		Method:    req.Method,
		Path:      ev.path,
		Host:      strings.ToLower(ev.host),
		ASN:       int64(req.ASN),
		Org:       req.Org,
		Class:     req.Class,
		UserAgent: req.UserAgent,
		Headers:   make(map[string]string, len(req.Header)),
	}
	if req.IP.IsValid() {
		r.IP = req.IP.Unmap().String()
	}
	for name, values := range req.Header {
		r.Headers[textproto.CanonicalMIMEHeaderKey(name)] = strings.Join(values, ", ")
	}
	return r
}

// celActivation resolves the one variable CEL conditions have.
type celActivation struct {
	request *celRequest
}

// ResolveName returns the request for the name "request".
func (a celActivation) ResolveName(name string) (any, bool) {
	if name == "request" {
		return a.request, true
	}
	return nil, false
}

// Parent returns nil: there is no enclosing activation.
func (celActivation) Parent() interpreter.Activation { return nil }
