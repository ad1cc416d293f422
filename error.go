package sessiond

import (
	"errors"
	"fmt"
)

// Error codes, shared by the library and the JSON API ({"error":{"code"}}).
const (
	CodeInvalidSession   = "session_invalid"
	CodeNotFound         = "not_found"
	CodeInvalidInput     = "invalid_input"
	CodeUserBanned       = "user_banned"
	CodeDataTooLarge     = "data_too_large"
	CodeConflict         = "conflict"
	CodeStoreUnavailable = "store_unavailable"
	CodeTokenUsed        = "token_used"
)

// Error is a domain error with a stable code and a message safe to show to
// API clients.
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Is makes errors.Is match on the code, so callers compare against the
// sentinels below whatever the message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Errorf returns an *Error with the given code.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

var (
	// ErrInvalidSession covers malformed, forged, unknown, expired and
	// revoked tokens alike, so a caller learns nothing about which it was.
	ErrInvalidSession = &Error{CodeInvalidSession, "the session is invalid or has expired"}
	// ErrNotFound is returned by stores and the manager for unknown ids.
	ErrNotFound = &Error{CodeNotFound, "not found"}
	// ErrUserBanned refuses new sessions for a banned user.
	ErrUserBanned = &Error{CodeUserBanned, "the user is banned"}
	// ErrDataTooLarge is returned when session data would exceed the limit.
	ErrDataTooLarge = &Error{CodeDataTooLarge, "session data exceeds the size limit"}
	// ErrConflict is returned by a store's compare-and-swap when the record
	// changed since it was read. The manager retries; callers rarely see it.
	ErrConflict = &Error{CodeConflict, "the record changed concurrently"}
	// ErrTokenUsed is returned when a single-use token is redeemed again.
	ErrTokenUsed = &Error{CodeTokenUsed, "the token has already been used"}
)

// ErrorCode returns the code of a domain error, or "" for anything else
// (which the server treats as the store being unavailable: fail closed).
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
