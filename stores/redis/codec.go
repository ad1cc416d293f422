package redis

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

// A session is one Redis string, packed, not a hash: Redis keeps a small
// hash as a listpack, but converts it to a real hash table (about 3x the
// memory) as soon as one field exceeds hash-max-listpack-value (64 bytes by
// default) — and a browser's user agent or the session data usually does.
// A packed string costs its length plus a fixed overhead, whatever its
// fields hold. The Lua scripts read and patch it with Redis's struct
// library, so the layout is fixed-width at the front:
//
//	offset size
//	0      1    format (1)
//	1      6    created at, Unix ms
//	7      6    expires at (absolute)
//	13     6    last seen at         } rewritten together by Touch and
//	19     6    idle expires at      } Rotate (SETRANGE, 12 bytes)
//	25     6    idle timeout, ms
//	31     8    version
//	39     2    length of the user id
//	41     2    length of the client IP
//	43     2    length of the user agent
//	45     -    user id, client IP, user agent, then the data (JSON) to the end
//
// Integers are little-endian and unsigned; 48 bits of milliseconds reach
// the year 10889. Lua numbers are doubles, exact up to 2^53, which covers
// every value here.
const (
	formatV1   = 1
	headerLen  = 45
	offSeen    = 13 // last seen + idle expiry
	offVersion = 31
	offLens    = 39
)

const max48 = 1<<48 - 1

func put48(b []byte, v int64) { // little-endian, 6 bytes
	for i := range 6 {
		b[i] = byte(v >> (8 * i))
	}
}

func get48(b []byte) int64 {
	var v int64
	for i := range 6 {
		v |= int64(b[i]) << (8 * i)
	}
	return v
}

func millis(t time.Time) (int64, error) {
	ms := t.UnixMilli()
	if ms < 0 || ms > max48 {
		return 0, fmt.Errorf("redis: time %v out of range", t)
	}
	return ms, nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// encodeSession packs s (all of it but the id, which is the key).
func encodeSession(s *sessiond.Session) (string, error) {
	if len(s.UserID) > sessiond.MaxUserIDLen || len(s.Client.IP) > 0xffff || len(s.Client.UserAgent) > 0xffff {
		return "", errors.New("redis: user id or client details too long")
	}
	b := make([]byte, headerLen, headerLen+len(s.UserID)+len(s.Client.IP)+len(s.Client.UserAgent)+len(s.Data))
	b[0] = formatV1
	for i, t := range []time.Time{s.CreatedAt, s.ExpiresAt, s.LastSeenAt, s.IdleExpiresAt} {
		ms, err := millis(t)
		if err != nil {
			return "", err
		}
		put48(b[1+6*i:], ms)
	}
	idle := s.IdleTimeout.Milliseconds()
	if idle < 0 || idle > max48 {
		return "", errors.New("redis: idle timeout out of range")
	}
	put48(b[25:], idle)
	binary.LittleEndian.PutUint64(b[offVersion:], uint64(s.Version))
	binary.LittleEndian.PutUint16(b[offLens:], uint16(len(s.UserID)))
	binary.LittleEndian.PutUint16(b[offLens+2:], uint16(len(s.Client.IP)))
	binary.LittleEndian.PutUint16(b[offLens+4:], uint16(len(s.Client.UserAgent)))
	b = append(b, s.UserID...)
	b = append(b, s.Client.IP...)
	b = append(b, s.Client.UserAgent...)
	b = append(b, s.Data...)
	return string(b), nil
}

var errCorrupt = errors.New("redis: corrupt session record")

// decodeSession unpacks a stored session whose id is id.
func decodeSession(id, v string) (*sessiond.Session, error) {
	if len(v) < headerLen || v[0] != formatV1 {
		return nil, errCorrupt
	}
	b := []byte(v) // one copy, which Data then shares
	lu := int(binary.LittleEndian.Uint16(b[offLens:]))
	li := int(binary.LittleEndian.Uint16(b[offLens+2:]))
	la := int(binary.LittleEndian.Uint16(b[offLens+4:]))
	end := headerLen + lu + li + la
	if len(b) < end {
		return nil, errCorrupt
	}
	return &sessiond.Session{
		ID:            id,
		UserID:        string(b[headerLen : headerLen+lu]),
		CreatedAt:     fromMillis(get48(b[1:])),
		ExpiresAt:     fromMillis(get48(b[7:])),
		LastSeenAt:    fromMillis(get48(b[13:])),
		IdleExpiresAt: fromMillis(get48(b[19:])),
		IdleTimeout:   time.Duration(get48(b[25:])) * time.Millisecond,
		Version:       int64(binary.LittleEndian.Uint64(b[offVersion:])),
		Client: sessiond.Client{
			IP:        string(b[headerLen+lu : headerLen+lu+li]),
			UserAgent: string(b[headerLen+lu+li : end]),
		},
		Data: json.RawMessage(b[end:len(b):len(b)]),
	}, nil
}

// packSeen is the 12 bytes at offSeen: last seen and idle expiry.
func packSeen(lastSeen, idleExpires time.Time) (string, error) {
	seen, err := millis(lastSeen)
	if err != nil {
		return "", err
	}
	idle, err := millis(idleExpires)
	if err != nil {
		return "", err
	}
	var b [12]byte
	put48(b[:], seen)
	put48(b[6:], idle)
	return string(b[:]), nil
}

// A user is a small hash (few per session, read on every validation): s
// status, r roles comma-separated (role names cannot contain commas), a
// attributes (JSON), t updated at (Unix ms). A user record has no TTL.
var userFields = []string{"s", "r", "a", "t"}

func encodeUser(u *sessiond.User) (status, roles, attrs, updated string) {
	attrs = string(u.Attributes)
	if attrs == "" {
		attrs = "{}"
	}
	return string(u.Status), strings.Join(u.Roles, ","), attrs, strconv.FormatInt(u.UpdatedAt.UnixMilli(), 10)
}

// decodeUser builds a user from the values of userFields.
func decodeUser(id string, f []string) (*sessiond.User, error) {
	if len(f) != len(userFields) {
		return nil, errors.New("redis: corrupt user record")
	}
	ms, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return nil, errors.New("redis: corrupt user record")
	}
	roles := []string{}
	if f[1] != "" {
		roles = strings.Split(f[1], ",")
	}
	return &sessiond.User{
		ID:         id,
		Status:     sessiond.UserStatus(f[0]),
		Roles:      roles,
		Attributes: json.RawMessage(f[2]),
		UpdatedAt:  fromMillis(ms),
	}, nil
}
