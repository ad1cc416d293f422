package sessionhttp

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
)

// CodeForbidden is the error code of a 403: a cross-origin request refused,
// or a user without the required role.
const CodeForbidden = "forbidden"

// Error answers err as JSON, {"error": {"code", "message"}}, with the status
// that fits its sessiond error code: 400 invalid_input, 401
// session_invalid, 403 user_banned, 404 not_found, 409 conflict and
// token_used, 413 data_too_large. Anything else means the store could not
// answer: it is logged and answered 503 store_unavailable (fail closed),
// without the error's text, which may describe the infrastructure.
func (s *Sessions) Error(w http.ResponseWriter, r *http.Request, err error) {
	var e *sessiond.Error
	status, ok := 0, errors.As(err, &e)
	if ok {
		status, ok = statusOf[e.Code]
	}
	if !ok {
		s.opts.ErrorLog.ErrorContext(r.Context(), "sessionhttp: answering 503 store_unavailable", "err", err)
		writeError(w, http.StatusServiceUnavailable, sessiond.CodeStoreUnavailable, "the session store is unavailable")
		return
	}
	writeError(w, status, e.Code, e.Message)
}

var statusOf = map[string]int{
	sessiond.CodeInvalidInput:   http.StatusBadRequest,
	sessiond.CodeInvalidSession: http.StatusUnauthorized,
	sessiond.CodeUserBanned:     http.StatusForbidden,
	sessiond.CodeNotFound:       http.StatusNotFound,
	sessiond.CodeConflict:       http.StatusConflict,
	sessiond.CodeTokenUsed:      http.StatusConflict,
	sessiond.CodeDataTooLarge:   http.StatusRequestEntityTooLarge,
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
