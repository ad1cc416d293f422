package sessionhttp

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
)

// Login signs userID in: it revokes the session the request carried, if any,
// creates a new session with data (nil means {}) recording the client's IP
// and user agent, and sets the cookie. Call it after checking the user's
// credentials. It returns the new session; FromContext returns it too for
// the rest of the request.
//
// The new session always gets a new id and a fresh token, so a token
// planted in the browser before login (session fixation) never becomes
// authenticated; the pre-login session is revoked so that it cannot linger
// either (OWASP: renew the session id on authentication). Copy anything
// worth keeping (an anonymous cart, say) from it into data first.
//
// The token travels only in the cookie. API clients that hold a bearer
// token instead get theirs from Manager.Create, in the response body.
//
// Errors are sessiond domain errors (invalid user id, ErrUserBanned) or a
// store failure; Sessions.Error answers any of them.
func (s *Sessions) Login(w http.ResponseWriter, r *http.Request, userID string, data json.RawMessage) (sessiond.Session, error) {
	st, err := stateOf(r)
	if err != nil {
		return sessiond.Session{}, err
	}
	ctx := r.Context()
	user, err := s.m.GetUser(ctx, userID)
	if err != nil {
		return sessiond.Session{}, err
	}
	if err := s.revoke(ctx, st); err != nil {
		return sessiond.Session{}, err
	}
	token, sess, err := s.m.Create(ctx, sessiond.NewSession{UserID: userID, Data: data, Client: s.client(r)})
	if err != nil {
		return sessiond.Session{}, err
	}
	s.setCookie(w, token, sess)
	*st = state{token: token, live: true, session: sess, user: user}
	return sess, nil
}

// Logout ends the request's session on the server and clears the cookie, so
// the token is refused from now on even if it was copied (OWASP: logout must
// invalidate the session server-side). Without a session it only clears the
// cookie. If the store cannot revoke, the cookie is kept and the error
// returned, so that the user is not told they are signed out while the token
// still works.
func (s *Sessions) Logout(w http.ResponseWriter, r *http.Request) error {
	st, err := stateOf(r)
	if err != nil {
		return err
	}
	if err := s.revoke(r.Context(), st); err != nil {
		return err
	}
	s.clearCookie(w)
	return nil
}

// revoke ends the request's session, if it has one, and leaves the request
// anonymous. The session is revoked by its id: the token proved possession
// when Handler validated it, and ending a session is never a privilege, so
// a token rotated away by a concurrent request (another tab changing the
// password) still signs this device out instead of failing.
func (s *Sessions) revoke(ctx context.Context, st *state) error {
	if st.live {
		err := s.m.RevokeSession(ctx, st.session.ID)
		if err != nil && !errors.Is(err, sessiond.ErrNotFound) { // not found: gone already
			return err // the store could not answer: the session may live on
		}
	}
	*st = state{}
	return nil
}

// errRotateBearer: Rotate delivers the new token in a cookie, which a bearer
// client would not read; it would be left holding a dead token. It is the
// client's request that does not fit (400 invalid_request), not an outage.
var errRotateBearer = &sessiond.Error{
	Code:    sessiond.ErrInvalidRequest.Code,
	Message: "a bearer token is rotated with Manager.Rotate, which returns the new token; Sessions.Rotate sets a cookie",
}

// Rotate gives the request's session a new token and sets the cookie: call
// it when the user's privileges change (OWASP: renew the session id after
// any privilege level change). The old token stops working at once; the
// session keeps its id, data, creation and auth time. Without a session it
// returns sessiond.ErrInvalidSession; for a request authenticated by a
// bearer header, an ErrInvalidRequest.
func (s *Sessions) Rotate(w http.ResponseWriter, r *http.Request) error {
	st, err := stateOf(r)
	if err != nil {
		return err
	}
	if !st.live {
		return sessiond.ErrInvalidSession
	}
	if st.bearer {
		return errRotateBearer
	}
	token, sess, err := s.m.Rotate(r.Context(), st.token)
	if err != nil {
		return err
	}
	s.setCookie(w, token, sess)
	st.token, st.session = token, sess
	return nil
}
