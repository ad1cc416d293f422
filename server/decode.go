package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"
)

// readBody reads the whole body, at most s.maxBody bytes, and insists on
// valid UTF-8. The check comes first because encoding/json silently turns
// invalid UTF-8 inside strings into U+FFFD, which would let two different
// user ids collapse into one.
func (s *server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return nil, &apiError{http.StatusRequestEntityTooLarge, CodeBodyTooLarge,
			fmt.Sprintf("the request body exceeds %d bytes", s.maxBody)}
	case err != nil:
		return nil, invalidJSON("the request body could not be read")
	case !utf8.Valid(body):
		return nil, invalidJSON("the request body is not valid UTF-8")
	}
	return body, nil
}

// decode reads a JSON object into v, refusing unknown fields (a typo such as
// "idle_timout" must not be silently ignored), wrong types and trailing data.
func (s *server) decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return decodeError(err)
	}
	if err := d.Decode(&struct{}{}); err != io.EOF {
		return invalidJSON("unexpected data after the JSON object")
	}
	return nil
}

// decodeError sorts a decoding failure into not-JSON (invalid_json) and
// JSON-of-the-wrong-shape (invalid_request).
func decodeError(err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return invalidJSON("the request body is empty; send a JSON object")
	case errors.As(err, &syntax), errors.Is(err, io.ErrUnexpectedEOF):
		return invalidJSON("the request body is not valid JSON")
	case errors.As(err, &typ) && typ.Field == "":
		return invalidRequest("the request body must be a JSON object")
	case errors.As(err, &typ):
		return invalidRequest(fmt.Sprintf("field %q must be %s, not %s", typ.Field, jsonType(typ.Type), article(typ.Value)))
	}
	// The remaining decoder errors name an unknown field; their text speaks
	// only of the client's own input.
	return invalidRequest(strings.TrimPrefix(err.Error(), "json: "))
}

// jsonType names the JSON type that decodes into t.
func jsonType(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	}
	return "a number"
}

// article prefixes a JSON type name from json.UnmarshalTypeError.Value.
func article(name string) string {
	if strings.HasPrefix(name, "a") || strings.HasPrefix(name, "o") {
		return "an " + name
	}
	return "a " + name
}

// parseDuration reads an optional duration field ("30m"). Absent or null
// means the manager's default; zero or negative is refused rather than
// silently meaning the default.
func parseDuration(field string, v *string) (time.Duration, error) {
	if v == nil {
		return 0, nil
	}
	d, err := time.ParseDuration(*v)
	if err != nil || d <= 0 {
		return 0, invalidRequest(fmt.Sprintf("%s must be a positive Go duration such as \"30m\"", field))
	}
	return d, nil
}

// optionalObject treats a JSON null like an absent member, as most JSON
// encoders write missing optional values that way.
func optionalObject(v json.RawMessage) json.RawMessage {
	if string(bytes.TrimSpace(v)) == "null" {
		return nil
	}
	return v
}
