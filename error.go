package sessiond

import "fmt"

// Error is a domain error: a stable code (what the JSON API puts in
// {"error":{"code"}}) and a message safe to show to API clients.
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

var (
	// ErrInvalidSession covers malformed, forged, unknown, expired and
	// revoked tokens alike, so a caller learns nothing about which it was.
	ErrInvalidSession = &Error{"session_invalid", "the session is invalid or has expired"}
	// ErrNotFound is returned for unknown ids.
	ErrNotFound = &Error{"not_found", "not found"}
	// ErrInvalidRequest is the class of every refused argument; the message
	// of the error returned says what was wrong.
	ErrInvalidRequest = &Error{"invalid_request", "the request is invalid"}
	// ErrUserBanned refuses new sessions for a banned user.
	ErrUserBanned = &Error{"user_banned", "the user is banned"}
	// ErrDataTooLarge is returned when session data would exceed the limit.
	ErrDataTooLarge = &Error{"data_too_large", "session data exceeds the size limit"}
	// ErrConflict is returned by a store's compare-and-swap when the record
	// changed since it was read. The Manager retries; callers rarely see it.
	ErrConflict = &Error{"conflict", "the record changed concurrently"}
)

// invalidRequest returns an ErrInvalidRequest that says what was wrong.
func invalidRequest(format string, args ...any) error {
	return &Error{Code: ErrInvalidRequest.Code, Message: fmt.Sprintf(format, args...)}
}
