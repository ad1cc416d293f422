package sessionhttp

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond"
)

// Login signs userID in: it revokes the session the request carried, if any,
// creates a new session with data (nil means {}) recording the client's IP
// and user agent, and sets the cookie. Call it after checking the user's
// credentials.
//
// The new session always gets a fresh token, so a token planted in the
// browser before login (session fixation) never becomes authenticated; the
// pre-login session is revoked so that it cannot linger either (OWASP:
// renew the session id on authentication). Copy anything worth keeping (an
// anonymous cart, say) from it into data first.
//
// The token travels only in the cookie. API clients that hold a bearer
// token instead get theirs from Manager.Create, in the response body.
//
// Errors are sessiond domain errors (invalid user id, ErrUserBanned) or a
// store failure; Sessions.Error answers any of them.
func (s *Sessions) Login(w http.ResponseWriter, r *http.Request, userID string, data json.RawMessage) (*sessiond.Session, error) {
	st, err := stateOf(r)
	if err != nil {
		return nil, err
	}
	ctx := r.Context()
	user, err := s.m.User(ctx, userID)
	if err != nil {
		return nil, err
	}
	if st.session != nil {
		if err := s.m.Revoke(ctx, st.token); err != nil {
			return nil, err
		}
		st.session, st.user = nil, nil
	}
	token, sess, err := s.m.Create(ctx, sessiond.NewSession{UserID: userID, Data: data, Client: s.client(r)})
	if err != nil {
		return nil, err
	}
	s.setCookie(w, token, sess)
	*st = state{token: token, source: fromCookie, session: sess, user: user}
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
	if st.session != nil {
		if err := s.m.Revoke(r.Context(), st.token); err != nil {
			return err
		}
	}
	s.clearCookie(w)
	*st = state{}
	return nil
}

// errRenewBearer: Renew delivers the new token in a cookie, which a bearer
// client would not read; it would be left holding a dead token.
var errRenewBearer = errors.New("sessionhttp: Renew needs a cookie session; rotate bearer tokens with Manager.Rotate and return the new token")

// Renew rotates the request's session to a new token and sets the cookie:
// call it when the user's privileges change (OWASP: renew the session id
// after any privilege level change). The old token stops working at once;
// data and creation time are kept. Without a session it returns
// sessiond.ErrInvalidSession.
func (s *Sessions) Renew(w http.ResponseWriter, r *http.Request) error {
	st, err := stateOf(r)
	if err != nil {
		return err
	}
	if st.session == nil {
		return sessiond.ErrInvalidSession
	}
	if st.source == fromBearer {
		return errRenewBearer
	}
	token, sess, err := s.m.Rotate(r.Context(), st.token)
	if err != nil {
		return err
	}
	s.setCookie(w, token, sess)
	st.token, st.session = token, sess
	return nil
}
