package kit

import (
	"errors"
	"fmt"
	"reflect"

	pb "github.com/agentmesh/agentmesh/kits/go/gen/agentmesh/v1"
	"google.golang.org/grpc/codes"
)

// A skill declared with AsksForInput may answer with a question instead of a reply (A2A's
// input-required): its handler returns Ask(...) as its error, the caller answers, and the skill
// is invoked again with the same input, the answer in Call.Answer and the conversation so far in
// Call.History.
//
//	Handle: func(call *kit.Call, in Trip) (kit.Reply[Plan], error) {
//		if _, answered := call.Answer(); !answered {
//			return kit.Reply[Plan]{}, kit.Ask("What is your budget?", Budget{})
//		}
//		budget, err := kit.AnswerAs[Budget](call)
//		if err != nil {
//			return kit.Reply[Plan]{}, err
//		}
//		...
//	}

// Message is a message of a conversation as a handler reads it: the request, one of the skill's
// questions, or an answer.
type Message struct {
	// Text is its text parts, joined by blank lines.
	Text string
	// Data is its data parts, merged in order (later keys win).
	Data map[string]any
	// Proto is the message as it came over the wire: ids, role, sender, metadata.
	Proto *pb.AgentMessage
}

func messageOf(message *pb.AgentMessage) Message {
	text, data := contentOf(message)
	return Message{Text: text, Data: data, Proto: message}
}

// Question is a handler's question to the caller, returned as its error; Ask makes one. It does
// not reach the caller as an error: the reply is the question, with input_required set.
type Question struct {
	// Text is the question, sent as the reply's text.
	Text string
	// Schema is the JSON Schema the answer's data must satisfy; nil: any answer will do.
	Schema map[string]any
	// Data is structured data sent with the question, e.g. the choices offered.
	Data map[string]any
	// err says why the schema could not be made: the call fails INTERNAL.
	err error
}

func (q *Question) Error() string { return "the skill asks a question: " + q.Text }

// WithData sends structured data with the question, e.g. the choices offered.
func (q *Question) WithData(data map[string]any) *Question {
	q.Data = data
	return q
}

// Ask is a question to return, as its error, from the handler of a skill declared with
// AsksForInput (from any other skill it is a bug, and the call fails INTERNAL). schema is what
// the answer's data must be: a struct value or pointer, whose JSON Schema is reflected as an
// input's is (read the answer with AnswerAs of the same type); a *Schema; a JSON Schema as a
// map[string]any; or nil when any answer will do.
func Ask(question string, schema any) *Question {
	document, err := answerSchemaOf(schema)
	return &Question{Text: question, Schema: document, err: err}
}

func answerSchemaOf(schema any) (document map[string]any, err error) {
	switch given := schema.(type) {
	case nil:
		return nil, nil
	case *Schema:
		if given == nil {
			return nil, nil
		}
		document = given.Document
	case map[string]any:
		if len(given) == 0 {
			return nil, nil
		}
		if document, err = toObject(given); err != nil { // plain JSON values, as a Struct takes them
			return nil, fmt.Errorf("the answer schema is not a JSON object: %w", err)
		}
	default:
		t := reflect.TypeOf(schema)
		for t.Kind() == reflect.Pointer {
			t = t.Elem()
		}
		defer func() {
			if problem := recover(); problem != nil {
				err = fmt.Errorf("no JSON Schema for the answer: %v", problem)
			}
		}()
		document = schemaOf(t).Document
	}
	if len(document) == 0 {
		return nil, nil
	}
	return document, nil
}

// History is the conversation before this call's message when the skill asked for input: the
// first request, then each question asked and the answer it got, ending with the question this
// call's message answers. It is empty on a first call.
func (c *Call) History() []Message { return c.history }

// Answer is the answer to the question the skill asked last (see Ask); false on a first call.
func (c *Call) Answer() (Message, bool) {
	if len(c.history) == 0 {
		return Message{}, false
	}
	return c.received, true
}

// Turn is how many of the skill's questions have been answered in this conversation: 0 on a
// first call.
func (c *Call) Turn() int { return len(c.history) / 2 }

// AnswerAs is the answer's data decoded as T, schema defaults filled in. An answer that does not
// fit T's JSON Schema is the caller's fault: INVALID_ARGUMENT, reason INVALID_ANSWER, a violation
// per field named "answer.<path>". On a first call there is no answer, and the error is a bug in
// the skill (INTERNAL).
func AnswerAs[T any](call *Call) (T, error) {
	answer, ok := call.Answer()
	if !ok {
		var zero T
		return zero, fmt.Errorf("skill %q read an answer on the conversation's first call: no question was asked", call.Skill)
	}
	decoded, summary, violations := decode[T](SchemaFor[T](), answer.Data, answerPath)
	if summary != "" {
		return decoded, &Error{Code: codes.InvalidArgument, Reason: "INVALID_ANSWER", Message: "the answer does not fit: " + summary, Violations: violations}
	}
	return decoded, nil
}

// asked is the question a handler's error is, if it is one.
func asked(err error) (*Question, bool) {
	var question *Question
	ok := errors.As(err, &question)
	return question, ok
}
