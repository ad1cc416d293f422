package sessiond

import (
	"encoding/json"
	"testing"
)

// The examples of RFC 7396, Appendix A, restricted to object targets and
// patches (session data is always an object).
func TestMergePatchRFC7396(t *testing.T) {
	for _, c := range []struct{ doc, patch, want string }{
		{`{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{`{"a":"b"}`, `{"a":null}`, `{}`},
		{`{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{`{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{`{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{`{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{`{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{`{"e":null}`, `{"a":1}`, `{"a":1,"e":null}`},
		{`{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		{``, `{"n":12345678901234567890}`, `{"n":12345678901234567890}`},
	} {
		got, err := mergePatch(json.RawMessage(c.doc), json.RawMessage(c.patch))
		if err != nil {
			t.Fatalf("MergePatch(%s, %s): %v", c.doc, c.patch, err)
		}
		if string(got) != c.want {
			t.Errorf("MergePatch(%s, %s) = %s, want %s", c.doc, c.patch, got, c.want)
		}
	}
}

func TestMergePatchRefusesNonObjects(t *testing.T) {
	for _, p := range []string{`[]`, `"x"`, `null`, `1`, `{`, `{} {}`, ``} {
		if _, err := mergePatch(json.RawMessage(`{}`), json.RawMessage(p)); err == nil {
			t.Errorf("patch %q accepted", p)
		}
	}
}

func TestNormalizeData(t *testing.T) {
	for in, want := range map[string]string{"": "{}", " { \"a\" : 1 } ": `{"a":1}`} {
		got, err := normalizeData(json.RawMessage(in))
		if err != nil || string(got) != want {
			t.Errorf("NormalizeData(%q) = %s, %v", in, got, err)
		}
	}
	for _, bad := range []string{`[]`, `null`, `"s"`, `{"a":}`, `{}x`} {
		if _, err := normalizeData(json.RawMessage(bad)); err == nil {
			t.Errorf("NormalizeData(%q) accepted", bad)
		}
	}
}

func TestNormalizeDataRefusesInvalidUTF8(t *testing.T) {
	if _, err := normalizeData(json.RawMessage("{\"a\":\"\xff\"}")); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
}
