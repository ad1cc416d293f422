package webui

import (
	"errors"
	"net/http"
)

// FormError is the status and sentence of the error page for a POSTed form
// that r.ParseForm could not read: 413 for a body over the limit that
// http.MaxBytesHandler set, 400 for anything else. A bad form is the
// client's mistake, never a 500.
func FormError(err error) (status int, message string) {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return http.StatusRequestEntityTooLarge, "The form is too large."
	}
	return http.StatusBadRequest, "The form could not be read."
}
