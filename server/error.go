package server

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
)

// Error codes of the API besides those of sessionhttp.ErrorStatus, the
// status table shared with the middleware (invalid_request,
// session_invalid, user_banned, not_found, conflict, data_too_large,
// store_unavailable) and those of package onetime (token_invalid,
// token_expired, token_used).
const (
	CodeInvalidJSON      = "invalid_json"       // 400: not JSON, trailing data, not UTF-8
	CodeUnauthorized     = "unauthorized"       // 401: no or unknown API key
	CodeMethodNotAllowed = "method_not_allowed" // 405
	CodeBodyTooLarge     = "body_too_large"     // 413: body over Options.MaxBodyBytes
	CodeRateLimited      = "rate_limited"       // 429: too many invalid tokens from one address
	CodeInternal         = "internal_error"     // 500: a bug (a recovered panic)
)

// apiError is a refusal with a code of the API's own (bad JSON, an
// oversized body), decided before the manager is asked.
type apiError struct {
	status  int
	code    string
	message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func invalidJSON(message string) *apiError {
	return &apiError{http.StatusBadRequest, CodeInvalidJSON, message}
}

// invalidRequest is JSON of the wrong shape: the domain's invalid_request,
// so that the library and the API answer one code for one mistake.
func invalidRequest(message string) error {
	return &sessiond.Error{Code: sessiond.ErrInvalidRequest.Code, Message: message}
}

// fail answers err. The API's own refusals keep their code; everything
// else goes through sessionhttp.ErrorStatus. A 503 means the store could
// not answer (or answered nonsense): the request fails closed and the
// cause goes to the log only, as it may describe the infrastructure.
func (s *server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, ae.status, ae.code, ae.message)
		return
	}
	status, code, message := sessionhttp.ErrorStatus(err)
	if status == http.StatusServiceUnavailable {
		if errors.Is(err, context.Canceled) && r.Context().Err() != nil {
			// The client went away; nobody reads the answer and the store is fine.
			s.log.InfoContext(r.Context(), "server: request canceled by the client", "route", infoOf(r).route)
		} else {
			s.log.ErrorContext(r.Context(), "server: store unavailable", "route", infoOf(r).route, "err", err)
		}
	}
	writeError(w, status, code, message)
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
