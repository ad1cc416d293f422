package sessionhttp

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
)

// Update changes the request's session data atomically: fn gets the current
// data and returns the new data, and runs again on fresh data if another
// request changed it in between (Manager.Update's compare-and-swap loop), so
// concurrent requests never lose each other's writes. fn must therefore have
// no side effects beyond its result.
//
// Without a live session, or if the session ends meanwhile, it returns
// sessiond.ErrInvalidSession; data over the size limit gives
// sessiond.ErrDataTooLarge.
func (s *Sessions) Update(r *http.Request, fn func(data json.RawMessage) (json.RawMessage, error)) (*sessiond.Session, error) {
	return s.change(r, func(id string) (*sessiond.Session, error) {
		return s.m.Update(r.Context(), id, fn)
	})
}

// Patch applies an RFC 7396 JSON Merge Patch to the request's session data,
// atomically (see Update): {"cart": {"sku-1": 2}} sets one key and keeps the
// others, {"cart": null} removes one.
func (s *Sessions) Patch(r *http.Request, patch json.RawMessage) (*sessiond.Session, error) {
	return s.change(r, func(id string) (*sessiond.Session, error) {
		return s.m.PatchData(r.Context(), id, patch)
	})
}

func (s *Sessions) change(r *http.Request, update func(id string) (*sessiond.Session, error)) (*sessiond.Session, error) {
	st, err := stateOf(r)
	if err != nil {
		return nil, err
	}
	if st.session == nil {
		return nil, sessiond.ErrInvalidSession
	}
	sess, err := update(st.session.ID)
	if errors.Is(err, sessiond.ErrNotFound) {
		return nil, sessiond.ErrInvalidSession // revoked or expired meanwhile
	}
	if err != nil {
		return nil, err
	}
	st.session = sess
	return sess, nil
}
