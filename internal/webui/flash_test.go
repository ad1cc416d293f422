package webui

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestFlashURL(t *testing.T) {
	for _, tc := range []struct {
		page, code string
		args       []string
		want       string
	}{
		{"/login", "signed-out", nil, "/login?m=signed-out"},
		{"/admin/users", "banned", []string{"u", "bob", "n", "2"}, "/admin/users?m=banned&n=2&u=bob"},
		// Arguments are query-escaped; a dangling key is dropped.
		{"/", "added", []string{"p", "a&m=x y", "dangling"}, "/?m=added&p=a%26m%3Dx+y"},
	} {
		if got := FlashURL(tc.page, tc.code, tc.args...); got != tc.want {
			t.Errorf("FlashURL(%q, %q, %q) = %q, want %q", tc.page, tc.code, tc.args, got, tc.want)
		}
	}
}

func TestSeeOther(t *testing.T) {
	w := httptest.NewRecorder()
	SeeOther(w, httptest.NewRequest("POST", "/cart/add", nil), "/cart?m=added")
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/cart?m=added" {
		t.Fatalf("%d to %q, want 303 to /cart?m=added", w.Code, w.Header().Get("Location"))
	}
}
