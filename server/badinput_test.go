package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/server"
)

// Bad input gets a 4xx with the right code and the JSON error shape — never
// a 5xx, a panic or a hang.
func TestBadInput(t *testing.T) {
	a := newMemoryAPI(t)
	c := a.create("alice")
	live := "/v1/sessions/" + c.Session.ID
	unknownID := strings.Repeat("A", 22) // the shape of a session id, of no session
	oldID := strings.Repeat("ab", 32)    // an id of the previous version: SHA-256 hex

	const badJSON = server.CodeInvalidJSON
	badReq := sessiond.ErrInvalidRequest.Code
	bigData := `{"user_id":"alice","data":{"blob":"` + strings.Repeat("x", sessiond.DefaultConfig().MaxDataSize) + `"}}`
	bigPatch := `{"blob":"` + strings.Repeat("x", sessiond.DefaultConfig().MaxDataSize) + `"}`
	twoMiB := `{"user_id":"alice","data":{"blob":"` + strings.Repeat("x", 2<<20) + `"}}`
	deep := `{"user_id":"alice","data":{"a":` + strings.Repeat("[", 20000) + strings.Repeat("]", 20000) + `}}`
	longID := strings.Repeat("u", 256+1)

	cases := []struct {
		name         string
		method, path string
		body         string
		status       int
		code         string
	}{
		// Not JSON at all.
		{"empty body", "POST", "/v1/sessions", "", 400, badJSON},
		{"truncated", "POST", "/v1/sessions", `{"user_id":"alice"`, 400, badJSON},
		{"garbage", "POST", "/v1/sessions", `user_id=alice`, 400, badJSON},
		{"trailing object", "POST", "/v1/sessions", `{"user_id":"alice"} {}`, 400, badJSON},
		{"trailing garbage", "POST", "/v1/sessions", `{"user_id":"alice"}x`, 400, badJSON},
		{"invalid UTF-8 in a string", "POST", "/v1/sessions", "{\"user_id\":\"al\xffice\"}", 400, badJSON},
		{"invalid UTF-8 in data", "POST", "/v1/sessions", "{\"user_id\":\"alice\",\"data\":{\"k\":\"\xc3\"}}", 400, badJSON},
		{"nesting too deep", "POST", "/v1/sessions", deep, 400, badJSON},

		// JSON, but not a create request.
		{"array", "POST", "/v1/sessions", `[]`, 400, badReq},
		{"string", "POST", "/v1/sessions", `"alice"`, 400, badReq},
		{"null", "POST", "/v1/sessions", `null`, 400, badReq},
		{"empty object", "POST", "/v1/sessions", `{}`, 400, badReq},
		{"unknown field", "POST", "/v1/sessions", `{"user_id":"alice","idle_timout":"5m"}`, 400, badReq},
		{"unknown client field", "POST", "/v1/sessions", `{"user_id":"alice","client":{"ip":"1.2.3.4","mac":"x"}}`, 400, badReq},
		{"user_id number", "POST", "/v1/sessions", `{"user_id":42}`, 400, badReq},
		{"user_id object", "POST", "/v1/sessions", `{"user_id":{"id":"alice"}}`, 400, badReq},
		{"user_id null", "POST", "/v1/sessions", `{"user_id":null}`, 400, badReq},
		{"user_id empty", "POST", "/v1/sessions", `{"user_id":""}`, 400, badReq},
		{"user_id too long", "POST", "/v1/sessions", `{"user_id":"` + longID + `"}`, 400, badReq},
		{"user_id control char", "POST", "/v1/sessions", `{"user_id":"ali\u0000ce"}`, 400, badReq},
		{"user_id newline", "POST", "/v1/sessions", `{"user_id":"alice\n"}`, 400, badReq},
		{"ttl not a duration", "POST", "/v1/sessions", `{"user_id":"alice","ttl":"soon"}`, 400, badReq},
		{"ttl without unit", "POST", "/v1/sessions", `{"user_id":"alice","ttl":"30"}`, 400, badReq},
		{"ttl number", "POST", "/v1/sessions", `{"user_id":"alice","ttl":1800}`, 400, badReq},
		{"ttl empty", "POST", "/v1/sessions", `{"user_id":"alice","ttl":""}`, 400, badReq},
		{"ttl zero", "POST", "/v1/sessions", `{"user_id":"alice","ttl":"0s"}`, 400, badReq},
		{"ttl negative", "POST", "/v1/sessions", `{"user_id":"alice","ttl":"-5m"}`, 400, badReq},
		{"ttl too short", "POST", "/v1/sessions", `{"user_id":"alice","ttl":"500ms"}`, 400, badReq},
		{"ttl too long", "POST", "/v1/sessions", `{"user_id":"alice","ttl":"10000h"}`, 400, badReq},
		{"ttl overflow", "POST", "/v1/sessions", `{"user_id":"alice","ttl":"99999999999999h"}`, 400, badReq},
		{"idle_timeout bad", "POST", "/v1/sessions", `{"user_id":"alice","idle_timeout":"1 minute"}`, 400, badReq},
		{"idle_timeout too long", "POST", "/v1/sessions", `{"user_id":"alice","idle_timeout":"9000h"}`, 400, badReq},
		{"data array", "POST", "/v1/sessions", `{"user_id":"alice","data":[1]}`, 400, badReq},
		{"data string", "POST", "/v1/sessions", `{"user_id":"alice","data":"{}"}`, 400, badReq},
		{"data number", "POST", "/v1/sessions", `{"user_id":"alice","data":1}`, 400, badReq},
		{"client string", "POST", "/v1/sessions", `{"user_id":"alice","client":"curl"}`, 400, badReq},
		{"client ip number", "POST", "/v1/sessions", `{"user_id":"alice","client":{"ip":1}}`, 400, badReq},
		{"data over the limit", "POST", "/v1/sessions", bigData, 413, sessiond.ErrDataTooLarge.Code},
		{"body over the limit", "POST", "/v1/sessions", twoMiB, 413, server.CodeBodyTooLarge},

		// Token calls.
		{"validate empty body", "POST", "/v1/sessions/validate", "", 400, badJSON},
		{"validate token number", "POST", "/v1/sessions/validate", `{"token":1}`, 400, badReq},
		{"validate unknown field", "POST", "/v1/sessions/validate", `{"token":"x","user_id":"alice"}`, 400, badReq},
		{"validate garbage token", "POST", "/v1/sessions/validate", `{"token":"x"}`, 401, sessiond.ErrInvalidSession.Code},
		{"validate huge token", "POST", "/v1/sessions/validate", `{"token":"sess_` + strings.Repeat("A", 100000) + `"}`, 401, sessiond.ErrInvalidSession.Code},
		{"validate body over the limit", "POST", "/v1/sessions/validate", `{"token":"` + strings.Repeat("A", 2<<20) + `"}`, 413, server.CodeBodyTooLarge},
		{"rotate bad JSON", "POST", "/v1/sessions/rotate", `{"token":`, 400, badJSON},
		{"rotate garbage token", "POST", "/v1/sessions/rotate", `{"token":"sess_x_y"}`, 401, sessiond.ErrInvalidSession.Code},
		{"revoke array", "POST", "/v1/sessions/revoke", `["token"]`, 400, badReq},
		{"revoke garbage token", "POST", "/v1/sessions/revoke", `{"token":"nope"}`, 401, sessiond.ErrInvalidSession.Code},

		// Session ids.
		{"get unknown id", "GET", "/v1/sessions/" + unknownID, "", 404, sessiond.ErrNotFound.Code},
		{"get short id", "GET", "/v1/sessions/abc", "", 404, sessiond.ErrNotFound.Code},
		{"get upper-case id", "GET", strings.ToUpper(live), "", 404, sessiond.ErrNotFound.Code},
		{"get id with NUL", "GET", "/v1/sessions/%00", "", 404, sessiond.ErrNotFound.Code},
		{"get id not UTF-8", "GET", "/v1/sessions/%FF%FE", "", 404, sessiond.ErrNotFound.Code},
		{"get token as id", "GET", "/v1/sessions/" + c.Token, "", 404, sessiond.ErrNotFound.Code},
		{"get old hex id", "GET", "/v1/sessions/" + oldID, "", 404, sessiond.ErrNotFound.Code},
		{"get id not canonical", "GET", "/v1/sessions/" + strings.Repeat("A", 21) + "B", "", 404, sessiond.ErrNotFound.Code},
		{"get id with padding", "GET", "/v1/sessions/" + strings.Repeat("A", 20) + "==", "", 404, sessiond.ErrNotFound.Code},
		{"delete unknown id", "DELETE", "/v1/sessions/" + unknownID, "", 404, sessiond.ErrNotFound.Code},
		{"delete bad id", "DELETE", "/v1/sessions/x", "", 404, sessiond.ErrNotFound.Code},
		{"patch unknown id", "PATCH", "/v1/sessions/" + unknownID + "/data", `{"a":1}`, 404, sessiond.ErrNotFound.Code},
		{"patch bad id", "PATCH", "/v1/sessions/zz/data", `{"a":1}`, 404, sessiond.ErrNotFound.Code},

		// Merge patches.
		{"patch empty body", "PATCH", live + "/data", "", 400, badJSON},
		{"patch not JSON", "PATCH", live + "/data", `{a:1}`, 400, badJSON},
		{"patch trailing data", "PATCH", live + "/data", `{} {}`, 400, badJSON},
		{"patch not UTF-8", "PATCH", live + "/data", "{\"a\":\"\xff\"}", 400, badJSON},
		{"patch array", "PATCH", live + "/data", `[{"op":"add"}]`, 400, badReq},
		{"patch null", "PATCH", live + "/data", `null`, 400, badReq},
		{"patch string", "PATCH", live + "/data", `"x"`, 400, badReq},
		{"patch over the data limit", "PATCH", live + "/data", bigPatch, 413, sessiond.ErrDataTooLarge.Code},
		{"patch body over the limit", "PATCH", live + "/data", `{"a":"` + strings.Repeat("x", 2<<20) + `"}`, 413, server.CodeBodyTooLarge},

		// User ids in paths (PathValue is unescaped).
		{"user not UTF-8", "GET", "/v1/users/%FF", "", 400, badReq},
		{"user sessions not UTF-8", "GET", "/v1/users/%C3/sessions", "", 400, badReq},
		{"revoke user not UTF-8", "DELETE", "/v1/users/%FF%FF/sessions", "", 400, badReq},
		{"put user not UTF-8", "PUT", "/v1/users/%FF", `{"status":"banned"}`, 400, badReq},
		{"user too long", "GET", "/v1/users/" + longID, "", 400, badReq},
		{"user sessions too long", "GET", "/v1/users/" + longID + "/sessions", "", 400, badReq},
		{"user NUL", "GET", "/v1/users/a%00b", "", 400, badReq},
		{"user tab", "DELETE", "/v1/users/a%09b/sessions", "", 400, badReq},
		{"except not a session id", "DELETE", "/v1/users/alice/sessions?except=abc", "", 400, badReq},
		{"except a token", "DELETE", "/v1/users/alice/sessions?except=" + c.Token, "", 400, badReq},

		// User records.
		{"put user no status", "PUT", "/v1/users/alice", `{"roles":["admin"]}`, 400, badReq},
		{"put user bad status", "PUT", "/v1/users/alice", `{"status":"deleted"}`, 400, badReq},
		{"put user status number", "PUT", "/v1/users/alice", `{"status":1}`, 400, badReq},
		{"put user roles string", "PUT", "/v1/users/alice", `{"status":"active","roles":"admin"}`, 400, badReq},
		{"put user bad role", "PUT", "/v1/users/alice", `{"status":"active","roles":["ad min"]}`, 400, badReq},
		{"put user empty role", "PUT", "/v1/users/alice", `{"status":"active","roles":[""]}`, 400, badReq},
		{"put user too many roles", "PUT", "/v1/users/alice", `{"status":"active","roles":[` + strings.Repeat(`"r",`, 64) + `"r"]}`, 400, badReq},
		{"put user attributes array", "PUT", "/v1/users/alice", `{"status":"active","attributes":[]}`, 400, badReq},
		{"put user attributes too big", "PUT", "/v1/users/alice", `{"status":"active","attributes":{"a":"` + strings.Repeat("x", 16<<10) + `"}}`, 400, badReq},
		{"put user unknown field", "PUT", "/v1/users/alice", `{"status":"active","id":"alice"}`, 400, badReq},
		{"put user empty body", "PUT", "/v1/users/alice", "", 400, badJSON},
		{"put user not JSON", "PUT", "/v1/users/alice", `status=banned`, 400, badJSON},
		{"put user body over the limit", "PUT", "/v1/users/alice", `{"status":"active","attributes":{"a":"` + strings.Repeat("x", 2<<20) + `"}}`, 413, server.CodeBodyTooLarge},

		// Routes and methods.
		{"unknown route", "GET", "/nope", "", 404, sessiond.ErrNotFound.Code},
		{"unknown v1 route", "GET", "/v1/tokens/nope", "", 404, sessiond.ErrNotFound.Code},
		{"root", "GET", "/", "", 404, sessiond.ErrNotFound.Code},
		{"GET sessions", "GET", "/v1/sessions", "", 405, server.CodeMethodNotAllowed},
		{"PUT validate", "PUT", "/v1/sessions/validate", `{}`, 405, server.CodeMethodNotAllowed},
		{"POST session id", "POST", live, `{}`, 405, server.CodeMethodNotAllowed},
		{"GET data", "GET", live + "/data", "", 405, server.CodeMethodNotAllowed},
		{"POST user", "POST", "/v1/users/alice", `{}`, 405, server.CodeMethodNotAllowed},
		{"PATCH user sessions", "PATCH", "/v1/users/alice/sessions", `{}`, 405, server.CodeMethodNotAllowed},
		{"POST healthz", "POST", "/healthz", "", 405, server.CodeMethodNotAllowed},
		{"DELETE readyz", "DELETE", "/readyz", "", 405, server.CodeMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := a.do(tc.method, tc.path, tc.body)
			expectError(t, w, tc.status, tc.code)
			if tc.status == 405 && w.Header().Get("Allow") == "" {
				t.Error("405 without Allow")
			}
		})
	}

	// None of it touched alice's session.
	v := decodeAs[validated](t, a.validate(c.Token))
	if string(v.Session.Data) != "{}" || v.Session.Version != 1 {
		t.Errorf("after the bad requests: %+v", v.Session)
	}
	if u := decodeAs[userBody](t, a.do("GET", "/v1/users/alice", "")); u.Status != "active" || !u.UpdatedAt.IsZero() {
		t.Errorf("after the bad requests: %+v", u)
	}
}

// The limits are inclusive: what is exactly at a limit is accepted.
func TestLimitsInclusive(t *testing.T) {
	a := newMemoryAPI(t)
	id := strings.Repeat("u", 256)
	expectStatus(t, a.do("POST", "/v1/sessions", `{"user_id":"`+id+`"}`), http.StatusCreated)
	expectStatus(t, a.do("GET", "/v1/users/"+id+"/sessions", ""), http.StatusOK)

	// {"blob":"xxx..."} of exactly MaxDataSize bytes.
	blob := strings.Repeat("x", sessiond.DefaultConfig().MaxDataSize-len(`{"blob":""}`))
	expectStatus(t, a.do("POST", "/v1/sessions", `{"user_id":"alice","data":{"blob":"`+blob+`"}}`), http.StatusCreated)
	expectStatus(t, a.do("POST", "/v1/sessions", `{"user_id":"alice","ttl":"1s","idle_timeout":"1s"}`), http.StatusCreated)
}
