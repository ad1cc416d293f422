package main

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/sessiond/sessiond/internal/webui"
)

// cart is what the session's data holds under "cart": quantities by product
// id. Keeping it in the session (not in a cookie, not in the page) is the
// server-side session's job; Sessions.UpdateData changes it with a
// compare-and-swap loop, so two tabs adding at once never lose an item.
type cart map[string]int

// maxQuantity bounds one line of the cart.
const maxQuantity = 99

var errLineFull = errors.New("shop: cart line full")

// cartOf reads the cart from session data. The shop alone writes it, so a
// cart that does not parse is treated as empty rather than as an error.
func cartOf(data json.RawMessage) cart {
	var d struct {
		Cart cart `json:"cart"`
	}
	if json.Unmarshal(data, &d) != nil || d.Cart == nil {
		return cart{}
	}
	return d.Cart
}

// withCart returns data with its cart replaced (removed if empty), keeping
// every other key.
func withCart(data json.RawMessage, c cart) (json.RawMessage, error) {
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(data, &fields); err != nil {
		return nil, err
	}
	if len(c) == 0 {
		delete(fields, "cart")
	} else {
		b, err := json.Marshal(c)
		if err != nil {
			return nil, err
		}
		fields["cart"] = b
	}
	return json.Marshal(fields)
}

func (c cart) items() int {
	n := 0
	for _, q := range c {
		n += q
	}
	return n
}

// line is one product of a cart or an order.
type line struct {
	Product  product
	Quantity int
	Subtotal int
}

// order is the cart and an order's confirmation page.
type order struct {
	Number string
	Lines  []line
	Total  int
}

// priced lists the cart in catalogue order, with prices.
func (c cart) priced() order {
	var o order
	for _, p := range products {
		if q := c[p.ID]; q > 0 {
			o.Lines = append(o.Lines, line{Product: p, Quantity: q, Subtotal: q * p.Price})
			o.Total += q * p.Price
		}
	}
	return o
}

func (a *app) cartPage(w http.ResponseWriter, r *http.Request) {
	sess, _ := current(r)
	a.render(w, r, http.StatusOK, "cart", view{Title: "Your cart", Data: cartOf(sess.Data()).priced()})
}

// addToCart increments one product's quantity atomically: fn may run more
// than once if another request changed the data in between, and works on
// fresh data each time, so concurrent adds all count.
func (a *app) addToCart(w http.ResponseWriter, r *http.Request) {
	if !a.parseForm(w, r) {
		return
	}
	p, ok := productByID(r.PostForm.Get("product"))
	if !ok {
		a.renderError(w, r, http.StatusBadRequest, "There is no such product.")
		return
	}
	_, err := a.sessions.UpdateData(r, func(data json.RawMessage) (json.RawMessage, error) {
		c := cartOf(data)
		if c[p.ID] >= maxQuantity {
			return nil, errLineFull
		}
		c[p.ID]++
		return withCart(data, c)
	})
	switch {
	case errors.Is(err, errLineFull):
		a.renderError(w, r, http.StatusBadRequest, "You cannot order more than 99 of one product.")
	case err != nil:
		a.fail(w, r, err)
	default:
		webui.SeeOther(w, r, webui.FlashURL("/", "added", "p", p.ID))
	}
}

// checkout empties the cart and confirms the order. The cart is read and
// emptied in one atomic update, so an item added concurrently is either in
// this order or still in the cart, never lost.
func (a *app) checkout(w http.ResponseWriter, r *http.Request) {
	var bought cart
	_, err := a.sessions.UpdateData(r, func(data json.RawMessage) (json.RawMessage, error) {
		bought = cartOf(data)
		return withCart(data, nil)
	})
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if len(bought) == 0 {
		webui.SeeOther(w, r, "/cart")
		return
	}
	o := bought.priced()
	o.Number = rand.Text()[:10]
	a.render(w, r, http.StatusOK, "order", view{Title: "Thank you", Data: o})
}
