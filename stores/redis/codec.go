package redis

import (
	"encoding/binary"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/sessiond/sessiond"
)

// A session is one Redis string, packed, not a hash: Redis keeps a small
// hash as a listpack, but converts it to a real hash table (about 3x the
// memory) as soon as one field exceeds hash-max-listpack-value (64 bytes by
// default) — and session data often does. A packed string costs its length
// plus a fixed overhead, and every byte counts: Redis's allocator rounds a
// value up to a size class 16 bytes apart, and a million sessions turn each
// class into 16 MB.
//
// What the key or the key's TTL already says is not stored again: the id
// is the key, and IdleExpiresAt is the key's expiry (PEXPIRETIME). Times
// are milliseconds, CreatedAt in full, the others as deltas from it.
// Integers are varints (Go's encoding/binary: 7 bits a byte), deltas
// zigzag-encoded so that a time before CreatedAt still round-trips:
//
//	format (1 byte: 2)
//	created at, Unix ms (6 bytes, little-endian)
//	last seen − created         } rewritten by Touch and Rotate
//	version                     } rewritten by UpdateData
//	generation                  }
//	rotated at − created, + 1   } rewritten by Rotate (0: never rotated)
//	secret hash (32 bytes)      }
//	user id (length, bytes)
//	auth time − created
//	expires at − created        } in seconds if whole seconds (low bit
//	idle timeout, ms            } set), else in ms
//	client IP: 0 none, 1 + 4 bytes IPv4, 2 + 16 bytes IPv6, 3+n + n bytes text
//	user agent (length, bytes packed against a table: see useragent.go)
//	data: the rest, a compact JSON object ("" for {})
//
// The Lua scripts read and rewrite the fields up to the user id with the
// same varints (see scripts.go); Go reads and writes all of them. Lua
// numbers are doubles, exact up to 2^53, which covers every value here
// (versions above that are refused).
const (
	formatV2   = 2
	offVarints = 7 // where the varints start
	max48      = 1<<48 - 1
	maxExact   = 1<<53 - 1 // the largest integer a Lua number holds exactly
)

// The client IP's kinds.
const (
	ipNone = iota
	ipV4
	ipV6
	ipText
)

var (
	errCorrupt    = errors.New("corrupt session record")
	errOutOfRange = errors.New("a time, version or length is out of range")
)

func millis(t time.Time) (int64, error) {
	ms := t.UnixMilli()
	if ms < 0 || ms > max48 {
		return 0, errOutOfRange
	}
	return ms, nil
}

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// encodeSession packs s (all of it but the id, which is the key, and the
// idle expiry, which is the key's TTL).
func encodeSession(s sessiond.Session) (string, error) {
	created, err := millis(s.CreatedAt)
	if err != nil {
		return "", err
	}
	if s.Version < 0 || s.Version > maxExact || s.IdleTimeout < 0 {
		return "", errOutOfRange
	}
	data := string(s.Data())
	if data == "{}" {
		data = ""
	}
	b := make([]byte, 0, 64+len(s.UserID)+len(s.Client.IP)+len(s.Client.UserAgent)+len(data))
	b = append(b, formatV2)
	var c [8]byte
	binary.LittleEndian.PutUint64(c[:], uint64(created))
	b = append(b, c[:6]...)
	b = binary.AppendVarint(b, delta(s.LastSeenAt, created))
	b = binary.AppendUvarint(b, uint64(s.Version))
	b = binary.AppendUvarint(b, uint64(s.Generation))
	var rotated uint64
	if !s.RotatedAt.IsZero() {
		rotated = zigzag(delta(s.RotatedAt, created)) + 1
	}
	b = binary.AppendUvarint(b, rotated)
	b = append(b, s.SecretHash[:]...)
	b = appendString(b, s.UserID)
	b = binary.AppendVarint(b, delta(s.AuthTime, created))
	b = appendDuration(b, delta(s.ExpiresAt, created))
	b = appendDuration(b, s.IdleTimeout.Milliseconds())
	b = appendIP(b, s.Client.IP)
	ua := appendUserAgent(nil, s.Client.UserAgent)
	b = binary.AppendUvarint(b, uint64(len(ua)))
	b = append(b, ua...)
	b = append(b, data...)
	return string(b), nil
}

// delta is t − created in ms (0 for a zero t, which reads back as
// CreatedAt: the Manager sets every time it stores).
func delta(t time.Time, created int64) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli() - created
}

func zigzag(v int64) uint64 { return uint64(v<<1) ^ uint64(v>>63) }

func unzigzag(z uint64) int64 { return int64(z>>1) ^ -int64(z&1) }

// appendDuration stores a configured duration (a lifetime, an idle
// timeout), which is usually whole seconds, in seconds when it is: a
// byte less for 30 days or 30 minutes. The low bit says which.
func appendDuration(b []byte, ms int64) []byte {
	if ms%1000 == 0 {
		return binary.AppendUvarint(b, zigzag(ms/1000)<<1|1)
	}
	return binary.AppendUvarint(b, zigzag(ms)<<1)
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// appendIP stores an address in its binary form when that gives back the
// same text, and as text otherwise (a zone, a non-canonical spelling, or
// not an address: the store keeps what it is given).
func appendIP(b []byte, ip string) []byte {
	a, err := netip.ParseAddr(ip)
	switch {
	case ip == "":
		return append(b, ipNone)
	case err != nil || a.Zone() != "" || a.String() != ip:
		b = binary.AppendUvarint(b, ipText+uint64(len(ip)))
		return append(b, ip...)
	case a.Is4():
		v4 := a.As4()
		return append(append(b, ipV4), v4[:]...)
	default:
		v6 := a.As16()
		return append(append(b, ipV6), v6[:]...)
	}
}

// reader reads a packed session, remembering the first error.
type reader struct {
	b   []byte
	err error
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.err = errCorrupt
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *reader) duration() int64 {
	v := r.uvarint()
	if v&1 == 1 {
		return unzigzag(v>>1) * 1000
	}
	return unzigzag(v >> 1)
}

func (r *reader) time(created int64, d int64) time.Time { return fromMillis(created + d) }

// decodeSession unpacks a stored session whose id is id and whose key
// expires at idleExpires (Unix ms).
func decodeSession(id, v string, idleExpires int64) (sessiond.Session, error) {
	if len(v) < offVarints || v[0] != formatV2 || idleExpires < 0 {
		return sessiond.Session{}, errCorrupt
	}
	var c [8]byte
	copy(c[:], v[1:offVarints])
	created := int64(binary.LittleEndian.Uint64(c[:]))
	r := &reader{b: []byte(v[offVarints:])}
	s := sessiond.Session{ID: id, CreatedAt: fromMillis(created), IdleExpiresAt: fromMillis(idleExpires)}
	s.LastSeenAt = r.time(created, r.varint())
	s.Version = int64(r.uvarint())
	gen := r.uvarint()
	if gen > 1<<32-1 {
		return sessiond.Session{}, errCorrupt
	}
	s.Generation = uint32(gen)
	if rotated := r.uvarint(); rotated != 0 {
		s.RotatedAt = r.time(created, unzigzag(rotated-1))
	}
	copy(s.SecretHash[:], r.bytes(32))
	s.UserID = string(r.bytes(r.uvarint()))
	s.AuthTime = r.time(created, r.varint())
	s.ExpiresAt = r.time(created, r.duration())
	s.IdleTimeout = time.Duration(r.duration()) * time.Millisecond
	s.Client.IP = decodeIP(r)
	ua := r.bytes(r.uvarint())
	if r.err != nil {
		return sessiond.Session{}, r.err
	}
	var err error
	if s.Client.UserAgent, err = unpackUserAgent(ua); err != nil {
		return sessiond.Session{}, err
	}
	if len(r.b) > 0 {
		s = s.WithData(r.b)
	}
	return s, nil
}

func decodeIP(r *reader) string {
	switch kind := r.uvarint(); kind {
	case ipNone:
		return ""
	case ipV4:
		p := r.bytes(4)
		if r.err != nil {
			return ""
		}
		return netip.AddrFrom4([4]byte(p)).String()
	case ipV6:
		p := r.bytes(16)
		if r.err != nil {
			return ""
		}
		return netip.AddrFrom16([16]byte(p)).String()
	default:
		return string(r.bytes(kind - ipText))
	}
}

// A user is a small hash (few per session, read on every validation): s
// status, r roles comma-separated (role names cannot contain commas), a
// attributes (JSON), t updated at (Unix ms). A user record has no TTL.
// This is the format of the previous version too: user records written by
// it are read as they are.
var userFields = []string{"s", "r", "a", "t"}

func encodeUser(u sessiond.User) (status, roles, attrs, updated string) {
	return string(u.Status), strings.Join(u.Roles(), ","), string(u.Attributes()), strconv.FormatInt(u.UpdatedAt.UnixMilli(), 10)
}

// decodeUser builds a user from the values of userFields.
func decodeUser(id string, f []string) (sessiond.User, error) {
	corrupt := errors.New("corrupt user record")
	if len(f) != len(userFields) {
		return sessiond.User{}, corrupt
	}
	ms, err := strconv.ParseInt(f[3], 10, 64)
	if err != nil {
		return sessiond.User{}, corrupt
	}
	u := sessiond.User{ID: id, Status: sessiond.UserStatus(f[0]), UpdatedAt: fromMillis(ms)}
	if f[1] != "" {
		u = u.WithRoles(strings.Split(f[1], ",")...)
	}
	return u.WithAttributes([]byte(f[2])), nil
}
