package sessiond

import (
	"bytes"
	"encoding/json"
	"unicode/utf8"
)

// mergePatch applies an RFC 7396 JSON Merge Patch to a JSON object and
// returns the result. Session data is always an object, so the patch must be
// one too; a null member removes a key.
func mergePatch(doc, patch json.RawMessage) (json.RawMessage, error) {
	var target map[string]any
	if len(bytes.TrimSpace(doc)) > 0 {
		if err := decodeJSON(doc, &target); err != nil {
			return nil, err
		}
	}
	var p map[string]any
	if err := decodeJSON(patch, &p); err != nil || p == nil {
		return nil, invalidRequest("a merge patch must be a JSON object")
	}
	if target == nil {
		target = map[string]any{}
	}
	return json.Marshal(mergeObject(target, p))
}

func mergeObject(target, patch map[string]any) map[string]any {
	for k, v := range patch {
		if v == nil {
			delete(target, k)
			continue
		}
		if pv, ok := v.(map[string]any); ok {
			tv, _ := target[k].(map[string]any)
			if tv == nil {
				tv = map[string]any{}
			}
			target[k] = mergeObject(tv, pv)
			continue
		}
		target[k] = v
	}
	return target
}

// decodeJSON decodes exactly one JSON value, keeping numbers exact.
func decodeJSON(b []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return invalidRequest("trailing data after JSON value")
	}
	return nil
}

// normalizeData checks that b is a JSON object and returns it compacted.
// Empty input means an empty object.
func normalizeData(b json.RawMessage) (json.RawMessage, error) {
	if len(bytes.TrimSpace(b)) == 0 {
		return json.RawMessage("{}"), nil
	}
	if !utf8.Valid(b) { // RFC 8259: JSON text is UTF-8
		return nil, invalidRequest("session data is not valid UTF-8")
	}
	var m map[string]any
	if err := decodeJSON(b, &m); err != nil || m == nil {
		return nil, invalidRequest("session data must be a JSON object")
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, b); err != nil {
		return nil, invalidRequest("session data must be a JSON object")
	}
	return buf.Bytes(), nil
}
