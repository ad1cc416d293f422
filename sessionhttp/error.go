package sessionhttp

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
)

// Error codes the middleware answers besides those of sessiond's domain
// errors (sessiond.Error.Code).
const (
	// CodeForbidden is the code of a 403 the middleware decides: a
	// cross-origin request refused, or a user without the required role.
	CodeForbidden = "forbidden"
	// CodeStoreUnavailable is the code of a 503: the store could not
	// answer, so the request fails closed.
	CodeStoreUnavailable = "store_unavailable"
)

// storeUnavailableMessage is the only message a 503 carries: the error's
// own text may describe the infrastructure (host names, SQL), which is no
// client's business (OWASP: Error Handling).
const storeUnavailableMessage = "the session store is unavailable"

// ErrorStatus is the one status table of sessiond, shared by the middleware
// (Sessions.Error) and the server's JSON API: the HTTP status, the error
// code and a message safe to show a client for err.
//
// A *sessiond.Error keeps its code and message: invalid_request 400,
// session_invalid 401, user_banned 403, not_found 404, conflict 409,
// data_too_large 413. Anything else — a store that could not answer, a
// context that ended, a domain code this table does not know — is 503
// store_unavailable with a fixed message, never the error's text: failing
// closed is the only safe answer when the session's state is unknown.
func ErrorStatus(err error) (status int, code, message string) {
	var e *sessiond.Error
	if errors.As(err, &e) {
		if status, ok := statusOf[e.Code]; ok {
			return status, e.Code, e.Message
		}
	}
	return http.StatusServiceUnavailable, CodeStoreUnavailable, storeUnavailableMessage
}

var statusOf = map[string]int{
	sessiond.ErrInvalidRequest.Code: http.StatusBadRequest,
	sessiond.ErrInvalidSession.Code: http.StatusUnauthorized,
	sessiond.ErrUserBanned.Code:     http.StatusForbidden,
	sessiond.ErrNotFound.Code:       http.StatusNotFound,
	sessiond.ErrConflict.Code:       http.StatusConflict,
	sessiond.ErrDataTooLarge.Code:   http.StatusRequestEntityTooLarge,
}

// Error answers err as JSON, {"error": {"code", "message"}}, with the
// status ErrorStatus gives it. A 503 is logged with the error (the log is
// for operators; the answer is not), so an outage is visible without
// telling clients anything about it.
func (s *Sessions) Error(w http.ResponseWriter, r *http.Request, err error) {
	status, code, message := ErrorStatus(err)
	if status == http.StatusServiceUnavailable {
		s.opts.ErrorLog.ErrorContext(r.Context(), "sessionhttp: answering 503 store_unavailable", "err", err)
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
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(body)
}
