package challenge

import (
	"strconv"
	"strings"
)

// Messages is the text of the shield's pages in one language. To add a
// language, add an entry to catalog (and to languages, in preference order).
type Messages struct {
	Title    string
	Intro    string
	Progress string
	Starting string
	// Working is shown while solving; %d is replaced by the percentage.
	Working  string
	Done     string
	NoScript string
	// NoScriptWait is shown without JavaScript when waiting is allowed; %d
	// is the number of seconds.
	NoScriptWait string
	Continue     string
	Why          string
	// Shown above a fresh challenge when a proof was refused.
	Retry string
	// Error pages.
	BadRequestTitle string
	BadRequest      string
	TooLargeTitle   string
	TooLarge        string
	DeniedTitle     string
	Denied          string
	TooManyTitle    string
	// TooMany explains a 429; %d is the number of minutes to wait.
	TooMany      string
	ExpiredTitle string
	Expired      string
	// A signature sent from another site's form (refused, never re-posted
	// as the site's own).
	CrossSiteTitle string
	CrossSite      string
	// A request whose path the shield cannot read unambiguously.
	UnreadablePathTitle string
	UnreadablePath      string
	// Unknown paths and methods under the shield's own prefix.
	NotFoundTitle   string
	NotFound        string
	NotAllowedTitle string
	NotAllowed      string
	Back            string
}

// languages lists the supported languages, the default first: the
// petition that rempart was written for is French.
var languages = []string{"fr", "en"}

var catalog = map[string]*Messages{
	"fr": {
		Title:               "Vérification de votre navigateur",
		Intro:               "Ce site est protégé contre les robots. Votre navigateur effectue un court calcul, sans rien à cliquer : vous poursuivrez dans un instant.",
		Progress:            "Avancement de la vérification",
		Starting:            "Démarrage de la vérification…",
		Working:             "Vérification en cours : %d %",
		Done:                "Vérifié. Redirection…",
		NoScript:            "Cette vérification a besoin de JavaScript. Activez-le, puis rechargez la page.",
		NoScriptWait:        "Sans JavaScript, la vérification prend %d secondes : patientez, la page continuera d’elle-même.",
		Continue:            "Continuer",
		Why:                 "Ce calcul protège la pétition contre les signatures frauduleuses en masse. Aucune donnée n’est envoyée à un tiers.",
		Retry:               "La vérification précédente n’a pas abouti ; nouvel essai.",
		BadRequestTitle:     "Requête invalide",
		BadRequest:          "La vérification envoyée est illisible.",
		TooLargeTitle:       "Envoi trop volumineux",
		TooLarge:            "Les données envoyées dépassent la taille autorisée.",
		DeniedTitle:         "Accès refusé",
		Denied:              "Cette requête n’est pas acceptée par ce site.",
		TooManyTitle:        "Trop de demandes depuis votre réseau",
		TooMany:             "Votre réseau a atteint sa limite de signatures pour le moment. Réessayez dans %d min.",
		ExpiredTitle:        "Envoi expiré",
		Expired:             "Votre envoi a attendu trop longtemps et n’a pas été transmis. Revenez en arrière et envoyez le formulaire de nouveau.",
		CrossSiteTitle:      "Formulaire envoyé depuis un autre site",
		CrossSite:           "Ce formulaire a été envoyé depuis une page d’un autre site. Pour signer, ouvrez la pétition sur son propre site et remplissez-y le formulaire.",
		UnreadablePathTitle: "Adresse invalide",
		UnreadablePath:      "L’adresse demandée contient des caractères que ce site n’accepte pas pour un envoi.",
		Back:                "Revenir à la page d’accueil",
	},
	"en": {
		Title:               "Checking your browser",
		Intro:               "This site is protected against bots. Your browser is doing a short calculation, with nothing to click: you will continue in a moment.",
		Progress:            "Verification progress",
		Starting:            "Starting the check…",
		Working:             "Checking: %d%",
		Done:                "Verified. Redirecting…",
		NoScript:            "This check needs JavaScript. Please enable it, then reload the page.",
		NoScriptWait:        "Without JavaScript, the check takes %d seconds: please wait, the page will continue by itself.",
		Continue:            "Continue",
		Why:                 "This calculation protects the petition against mass fraudulent signatures. No data is sent to any third party.",
		Retry:               "The previous check did not succeed; trying again.",
		BadRequestTitle:     "Invalid request",
		BadRequest:          "The verification that was sent cannot be read.",
		TooLargeTitle:       "Submission too large",
		TooLarge:            "The data sent is larger than allowed.",
		DeniedTitle:         "Access denied",
		Denied:              "This site does not accept this request.",
		TooManyTitle:        "Too many requests from your network",
		TooMany:             "Your network has reached its limit of signatures for now. Please try again in %d min.",
		ExpiredTitle:        "Submission expired",
		Expired:             "Your submission waited too long and was not sent. Go back and submit the form again.",
		CrossSiteTitle:      "Form sent from another site",
		CrossSite:           "This form was sent from a page of another site. To sign, open the petition on its own site and fill in the form there.",
		UnreadablePathTitle: "Invalid address",
		UnreadablePath:      "The requested address contains characters this site does not accept for a submission.",
		Back:                "Back to the home page",
	},
}

// maxAcceptLanguage bounds the work spent on a hostile header.
const maxAcceptLanguage = 512

// Negotiate picks the supported language the client prefers most, per the
// Accept-Language header (RFC 9110 quality values), defaulting to the first
// supported language. It never fails: a malformed entry is skipped.
func Negotiate(acceptLanguage string) (string, *Messages) {
	if len(acceptLanguage) > maxAcceptLanguage {
		acceptLanguage = acceptLanguage[:maxAcceptLanguage]
	}
	best, bestQ := languages[0], 0.0
	for rest := acceptLanguage; rest != ""; {
		var item string
		item, rest, _ = strings.Cut(rest, ",")
		tag, params, _ := strings.Cut(item, ";")
		tag = strings.TrimSpace(tag)
		primary, _, _ := strings.Cut(tag, "-")
		q := 1.0
		if params != "" {
			q = parseQuality(params)
		}
		if q <= bestQ {
			continue
		}
		for _, l := range languages {
			if strings.EqualFold(primary, l) {
				best, bestQ = l, q
				break
			}
		}
	}
	return best, catalog[best]
}

// parseQuality reads "q=0.8" from an Accept-Language parameter list; a
// missing or malformed q counts as 0, so the entry is ignored.
func parseQuality(params string) float64 {
	for rest := params; rest != ""; {
		var p string
		p, rest, _ = strings.Cut(rest, ";")
		name, value, ok := strings.Cut(strings.TrimSpace(p), "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "q") {
			continue
		}
		q, err := strconv.ParseFloat(strings.TrimSpace(value), 64)
		if err != nil || q < 0 || q > 1 {
			return 0
		}
		return q
	}
	return 1
}
