package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
)

// Error codes of the API besides the domain codes of package sessiond
// (session_invalid, not_found, user_banned, data_too_large, conflict,
// store_unavailable). sessiond.CodeInvalidInput is answered as
// CodeInvalidRequest: one code for every request the API refuses as wrong.
const (
	CodeInvalidJSON      = "invalid_json"       // 400: not JSON, trailing data, not UTF-8
	CodeInvalidRequest   = "invalid_request"    // 400: JSON, but not what the route takes
	CodeUnauthorized     = "unauthorized"       // 401: no or unknown API key
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeBodyTooLarge     = "body_too_large"     // 413: body over Config.MaxBodyBytes
	CodeInternal         = "internal_error"     // 500: a bug (a recovered panic)
)

// statusOf maps domain codes to HTTP statuses, and renames the ones the API
// spells differently.
var statusOf = map[string]struct {
	status int
	code   string
}{
	sessiond.CodeInvalidInput:     {http.StatusBadRequest, CodeInvalidRequest},
	sessiond.CodeInvalidSession:   {http.StatusUnauthorized, sessiond.CodeInvalidSession},
	sessiond.CodeUserBanned:       {http.StatusForbidden, sessiond.CodeUserBanned},
	sessiond.CodeNotFound:         {http.StatusNotFound, sessiond.CodeNotFound},
	sessiond.CodeConflict:         {http.StatusConflict, sessiond.CodeConflict},
	sessiond.CodeTokenUsed:        {http.StatusConflict, sessiond.CodeTokenUsed},
	sessiond.CodeDataTooLarge:     {http.StatusRequestEntityTooLarge, sessiond.CodeDataTooLarge},
	sessiond.CodeStoreUnavailable: {http.StatusServiceUnavailable, sessiond.CodeStoreUnavailable},
}

// apiError is a refusal the handlers decide themselves (bad JSON, bad
// path parameters) before the manager is asked.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func badRequest(code, message string) *apiError {
	return &apiError{http.StatusBadRequest, code, message}
}

// fail answers err. Domain errors and the handlers' own refusals keep their
// code; anything else means the store could not answer (or answered
// nonsense), so the request fails closed with 503 and the cause goes to the
// log only, as it may describe the infrastructure.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.code, ae.message)
		return
	}
	var de *sessiond.Error
	if errors.As(err, &de) {
		if m, ok := statusOf[de.Code]; ok {
			writeError(w, m.status, m.code, de.Message)
			return
		}
	}
	if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
		// The client went away; nobody reads the answer and the store is fine.
		s.log.InfoContext(r.Context(), "server: request canceled by the client", "route", infoOf(r).route)
	} else {
		s.log.ErrorContext(r.Context(), "server: store unavailable", "route", infoOf(r).route, "err", err)
	}
	writeError(w, http.StatusServiceUnavailable, sessiond.CodeStoreUnavailable, "the session store is unavailable")
}

type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	var body errorBody
	body.Error.Code, body.Error.Message = code, message
	writeJSON(w, status, body)
}

// writeJSON answers v. Every answer is no-store: they carry tokens and
// session details that no cache should keep (OWASP: Session Management).
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only a value from a corrupt store record can fail to marshal.
		status, b = http.StatusInternalServerError, []byte(`{"error":{"code":"internal_error","message":"the response could not be encoded"}}`)
	}
	setHeaders(w)
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func setHeaders(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}
