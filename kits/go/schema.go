package kit

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"

	reflector "github.com/invopop/jsonschema"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Schema is a Go type's JSON Schema: as the agent card shows it, and compiled to validate values.
//
// It is reflected from the type's fields and their `json` and `jsonschema` tags (invopop/jsonschema):
// a field without `omitempty` is required, extra properties are allowed (as pydantic and zod
// allow them), and `jsonschema:"default=..."` values fill in what a request leaves out.
type Schema struct {
	Document  map[string]any
	validator *jsonschema.Schema
}

var englishPrinter = message.NewPrinter(language.English)

// schemas holds each type's Schema once made: GenerateJSON asks for one on every model call.
var schemas sync.Map // reflect.Type → *Schema

// SchemaFor reflects T's JSON Schema, once per type; it panics on a type no JSON Schema can
// describe, a bug in the agent found when it starts, not on a call.
func SchemaFor[T any]() *Schema {
	return schemaOf(reflect.TypeFor[T]())
}

// schemaOf is SchemaFor for a type known at run time.
func schemaOf(key reflect.Type) *Schema {
	if known, ok := schemas.Load(key); ok {
		return known.(*Schema)
	}
	made, _ := schemas.LoadOrStore(key, reflectSchema(key))
	return made.(*Schema)
}

func reflectSchema(t reflect.Type) *Schema {
	r := &reflector.Reflector{DoNotReference: true, ExpandedStruct: true, AllowAdditionalProperties: true}
	reflected := r.Reflect(reflect.New(t).Interface())
	reflected.Version = "" // the card's schemas carry no $schema, as the other runtimes' do not
	encoded, err := json.Marshal(reflected)
	if err != nil {
		panic(fmt.Sprintf("kit: the JSON Schema of %s does not encode: %v", t, err))
	}
	document, err := jsonschema.UnmarshalJSON(strings.NewReader(string(encoded)))
	if err != nil {
		panic(fmt.Sprintf("kit: the JSON Schema of %s does not decode: %v", t, err))
	}
	compiler := jsonschema.NewCompiler()
	compiler.DefaultDraft(jsonschema.Draft2020)
	const url = "agentmesh:schema.json"
	if err := compiler.AddResource(url, document); err != nil {
		panic(fmt.Sprintf("kit: the JSON Schema of %s: %v", t, err))
	}
	validator, err := compiler.Compile(url)
	if err != nil {
		panic(fmt.Sprintf("kit: the JSON Schema of %s does not compile: %v", t, err))
	}
	var plain map[string]any
	if err := json.Unmarshal(encoded, &plain); err != nil {
		panic(fmt.Sprintf("kit: the JSON Schema of %s: %v", t, err))
	}
	return &Schema{Document: plain, validator: validator}
}

// Decode fills in schema defaults for what value leaves out, validates it, and decodes it into a
// T; an InvalidInput error names every field at fault.
func Decode[T any](schema *Schema, value map[string]any, what string) (T, error) {
	decoded, summary, violations := decode[T](schema, value, path)
	if summary != "" {
		return decoded, InvalidInput(fmt.Sprintf("invalid %s: %s", what, summary), violations...)
	}
	return decoded, nil
}

// decode is Decode's work, its fields named by name: the value, or a summary of what is wrong
// with it and the fields at fault.
func decode[T any](schema *Schema, value map[string]any, name func(location []string) string) (T, string, []FieldViolation) {
	var decoded T
	withDefaults := applyDefaults(schema.Document, value).(map[string]any)
	if violations := schema.violations(withDefaults, name); len(violations) > 0 {
		summary := make([]string, len(violations))
		for i, v := range violations {
			summary[i] = v.Field + ": " + v.Description
		}
		return decoded, strings.Join(summary, "; "), violations
	}
	encoded, err := json.Marshal(withDefaults)
	if err != nil {
		return decoded, err.Error(), nil
	}
	if err := json.Unmarshal(encoded, &decoded); err != nil {
		return decoded, err.Error(), []FieldViolation{{Field: name(locationOf(err)), Description: err.Error()}}
	}
	return decoded, "", nil
}

// Violations is every way value fails the schema, one per field, with the field's dotted path.
func (s *Schema) Violations(value any) []FieldViolation {
	return s.violations(value, path)
}

func (s *Schema) violations(value any, name func(location []string) string) []FieldViolation {
	err := s.validator.Validate(value)
	if err == nil {
		return nil
	}
	validation, ok := err.(*jsonschema.ValidationError)
	if !ok {
		return []FieldViolation{{Field: name(nil), Description: err.Error()}}
	}
	var violations []FieldViolation
	collect(validation, name, &violations)
	return violations
}

func collect(err *jsonschema.ValidationError, name func(location []string) string, into *[]FieldViolation) {
	if len(err.Causes) > 0 {
		for _, cause := range err.Causes {
			collect(cause, name, into)
		}
		return
	}
	if required, ok := err.ErrorKind.(*kind.Required); ok {
		// A missing property is reported at its parent; the caller wants the property named.
		for _, missing := range required.Missing {
			location := append(slices.Clip(err.InstanceLocation), missing)
			*into = append(*into, FieldViolation{Field: name(location), Description: "is required"})
		}
		return
	}
	*into = append(*into, FieldViolation{Field: name(err.InstanceLocation), Description: err.ErrorKind.LocalizedString(englishPrinter)})
}

// path names an input's field: its dotted path, or "input" for the whole.
func path(location []string) string {
	if len(location) == 0 {
		return "input"
	}
	return strings.Join(location, ".")
}

// answerPath names a field of an answer to a skill's question: "answer." and its dotted path.
func answerPath(location []string) string {
	return strings.Join(append([]string{"answer"}, location...), ".")
}

// applyDefaults is value with each property the schema gives a default, and value lacks, filled
// in, in nested objects too.
func applyDefaults(schema map[string]any, value any) any {
	object, ok := value.(map[string]any)
	properties, hasProperties := schema["properties"].(map[string]any)
	if !ok || !hasProperties {
		return value
	}
	filled := make(map[string]any, len(object)+len(properties))
	for key, v := range object {
		filled[key] = v
	}
	for name, raw := range properties {
		property, _ := raw.(map[string]any)
		if current, present := filled[name]; present {
			filled[name] = applyDefaults(property, current)
		} else if fallback, has := property["default"]; has {
			filled[name] = fallback
		}
	}
	return filled
}

// locationOf is where in the value a decoding error is: the path of the field, or none.
func locationOf(err error) []string {
	if typeErr, ok := err.(*json.UnmarshalTypeError); ok && typeErr.Field != "" {
		return strings.Split(typeErr.Field, ".")
	}
	return nil
}

// typeName is T's name for messages.
func typeName[T any]() string {
	return reflect.TypeFor[T]().String()
}
