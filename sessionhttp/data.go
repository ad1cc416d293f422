package sessionhttp

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
)

// UpdateData changes the request's session data atomically: fn gets a copy
// of the current data and returns the new data, and runs again on fresh
// data if another request changed it in between (Manager.UpdateData's
// compare-and-swap loop), so concurrent requests never lose each other's
// writes. fn must therefore have no side effects beyond its result.
//
// It returns the updated session, which FromContext returns too for the
// rest of the request. Without a live session, or if the session ends
// meanwhile, it returns sessiond.ErrInvalidSession; data over the size
// limit gives sessiond.ErrDataTooLarge.
func (s *Sessions) UpdateData(r *http.Request, fn func(data json.RawMessage) (json.RawMessage, error)) (sessiond.Session, error) {
	return s.change(r, func(id string) (sessiond.Session, error) {
		return s.m.UpdateData(r.Context(), id, fn)
	})
}

// PatchData applies an RFC 7396 JSON Merge Patch to the request's session
// data, atomically (see UpdateData): {"cart": {"sku-1": 2}} sets one key and
// keeps the others, {"cart": null} removes one.
func (s *Sessions) PatchData(r *http.Request, patch json.RawMessage) (sessiond.Session, error) {
	return s.change(r, func(id string) (sessiond.Session, error) {
		return s.m.PatchData(r.Context(), id, patch)
	})
}

func (s *Sessions) change(r *http.Request, update func(id string) (sessiond.Session, error)) (sessiond.Session, error) {
	st, err := stateOf(r)
	if err != nil {
		return sessiond.Session{}, err
	}
	if !st.live {
		return sessiond.Session{}, sessiond.ErrInvalidSession
	}
	sess, err := update(st.session.ID)
	if errors.Is(err, sessiond.ErrNotFound) {
		return sessiond.Session{}, sessiond.ErrInvalidSession // revoked or expired meanwhile
	}
	if err != nil {
		return sessiond.Session{}, err
	}
	st.session = sess
	return sess, nil
}
