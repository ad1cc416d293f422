package main

import (
	"net/http"
	"strings"
)

// product is an item of the catalogue. Prices are in cents.
type product struct {
	ID    string
	Name  string
	Blurb string
	Price int
}

// Initial is the letter on the product's tile (the demo has no images).
func (p product) Initial() string { return strings.ToUpper(p.ID[:1]) }

var products = []product{
	{"tea", "Sencha green tea", "100 g of first-flush leaves from Shizuoka.", 1250},
	{"mug", "Stoneware mug", "Hand-glazed, 350 ml, dishwasher safe.", 1800},
	{"beans", "Espresso beans", "1 kg, medium roast, roasted this week.", 2400},
	{"filters", "Paper filters", "100 unbleached filters for pour-over.", 450},
	{"kettle", "Gooseneck kettle", "0.9 l, with temperature control to the degree.", 6900},
	{"grinder", "Burr grinder", "Conical steel burrs and 40 grind settings.", 8900},
}

func productByID(id string) (product, bool) {
	for _, p := range products {
		if p.ID == id {
			return p, true
		}
	}
	return product{}, false
}

// catalogue is the home page, open to everyone; adding to the cart needs a
// session, so an anonymous visitor's "Add to cart" leads to the sign-in
// page.
func (a *app) catalogue(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, http.StatusOK, "catalogue", view{Title: "Catalogue", Data: products})
}
