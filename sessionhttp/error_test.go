package sessionhttp_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/sessiond/sessiond"
	"github.com/sessiond/sessiond/sessionhttp"
)

func TestErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		err    error
		status int
		code   string
	}{
		{sessiond.ErrInvalidRequest, http.StatusBadRequest, "invalid_request"},
		{sessiond.ErrInvalidSession, http.StatusUnauthorized, "session_invalid"},
		{sessiond.ErrUserBanned, http.StatusForbidden, "user_banned"},
		{sessiond.ErrNotFound, http.StatusNotFound, "not_found"},
		{sessiond.ErrConflict, http.StatusConflict, "conflict"},
		{sessiond.ErrDataTooLarge, http.StatusRequestEntityTooLarge, "data_too_large"},
		// Wrapped and joined domain errors keep their status.
		{fmt.Errorf("login: %w", sessiond.ErrUserBanned), http.StatusForbidden, "user_banned"},
		{errors.Join(sessiond.ErrInvalidSession, sessiond.ErrTokenRotated), http.StatusUnauthorized, "session_invalid"},
		{&sessiond.Error{Code: "invalid_request", Message: "user_id is required"}, http.StatusBadRequest, "invalid_request"},
		// Anything else fails closed.
		{errors.New("dial tcp 10.0.0.7:6379: connection refused"), http.StatusServiceUnavailable, "store_unavailable"},
		{context.DeadlineExceeded, http.StatusServiceUnavailable, "store_unavailable"},
		{&sessiond.Error{Code: "made_up", Message: "secret detail"}, http.StatusServiceUnavailable, "store_unavailable"},
		{nil, http.StatusServiceUnavailable, "store_unavailable"},
	} {
		status, code, message := sessionhttp.ErrorStatus(tc.err)
		if status != tc.status || code != tc.code {
			t.Errorf("ErrorStatus(%v) = %d %s, want %d %s", tc.err, status, code, tc.status, tc.code)
		}
		var e *sessiond.Error
		switch {
		case status == http.StatusServiceUnavailable:
			// Never the error's text, which may name hosts or queries.
			if message != "the session store is unavailable" {
				t.Errorf("ErrorStatus(%v): message %q, want the fixed one", tc.err, message)
			}
		case errors.As(tc.err, &e) && message != e.Message:
			t.Errorf("ErrorStatus(%v): message %q, want the domain error's %q", tc.err, message, e.Message)
		}
	}
	if sessionhttp.CodeStoreUnavailable != "store_unavailable" {
		t.Error("CodeStoreUnavailable changed: it is part of the API")
	}
}
