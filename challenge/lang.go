package challenge

import (
	"strconv"
	"strings"
)

// Messages is the text of the shield's pages in one language. To add a
// language, add an entry to catalog (and to languages, in preference order).
type Messages struct {
	Title string
	// Intro is shown to every browser; Auto only where the script runs
	// (nothing to click), NoScript or NoScriptWait where it does not.
	Intro    string
	Auto     string
	Progress string
	Starting string
	// Working is shown while solving; %d is replaced by the percentage the
	// bar shows: the chance of having found the proof by now (proof of work
	// has no linear progress).
	Working string
	// Estimate follows Working once the hash rate is measured; %s is the
	// expected solving time in seconds on this device.
	Estimate string
	Done     string
	NoScript string
	// NoScriptWait is shown without JavaScript when waiting is allowed; %d
	// is the number of seconds.
	NoScriptWait string
	Continue     string
	// WaitMore answers a click on Continue before the wait is over; %d is
	// the number of seconds left.
	WaitMore string
	Why      string
	// NoCookies is shown when the pass cookie does not stick: the browser
	// blocks cookies, so every proof would be asked again.
	NoCookies string
	// Blocked is shown when the solver's script cannot be loaded at all.
	Blocked string
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
	// TooMany explains a 429 for a network over a signature budget; %d
	// is the number of minutes to wait.
	TooMany string
	// TooManyChecks explains a 429 for a network that asked for too many
	// browser checks (over a challenge budget), whether its visitors were
	// reading or signing. %d is the number of minutes to wait.
	TooManyChecks string
	// TooManyKept is added to a 429's text (TooMany or TooManyChecks)
	// when the refused request was a submission: what the signer typed is
	// still in their form.
	TooManyKept string
	// BackToForm is the button that goes back to the form.
	BackToForm   string
	ExpiredTitle string
	Expired      string
	// A signature sent from another site's form (refused, never re-posted
	// as the site's own).
	CrossSiteTitle string
	CrossSite      string
	// A request whose path the shield cannot read unambiguously.
	UnreadablePathTitle string
	UnreadablePath      string
	// A submission whose address is too long to be sent back to after
	// the check (414): refused before the check, not lost after it.
	AddressTooLongTitle string
	AddressTooLong      string
	// Unknown paths and methods under the shield's own prefix.
	NotFoundTitle   string
	NotFound        string
	NotAllowedTitle string
	NotAllowed      string
	Back            string
	// The shared store (Redis) does not answer: nothing typed is lost.
	UnavailableTitle string
	Unavailable      string
}

// languages lists the supported languages, the default first: the
// petition that rempart was written for is French.
var languages = []string{"fr", "en"}

var catalog = map[string]*Messages{
	"fr": {
		Title:               "Vérification de votre navigateur",
		Intro:               "Ce site est protégé contre les robots : votre navigateur doit d’abord passer une courte vérification.",
		Auto:                "Votre navigateur effectue un court calcul, sans rien à cliquer : vous poursuivrez dans un instant.",
		Progress:            "Avancement de la vérification",
		Starting:            "Démarrage de la vérification…",
		Working:             "Vérification en cours : %d % de chances d’avoir fini.",
		Estimate:            "En moyenne %s s sur cet appareil.",
		Done:                "Vérifié. Redirection…",
		NoScript:            "Cette vérification a besoin de JavaScript. Activez-le, puis rechargez la page.",
		NoScriptWait:        "Sans JavaScript, la vérification demande d’attendre %d secondes : patientez, puis cliquez sur « Continuer ».",
		Continue:            "Continuer",
		WaitMore:            "Encore %d s à attendre : patientez, puis cliquez de nouveau sur « Continuer ». Votre attente continue, elle ne recommence pas.",
		NoCookies:           "Ce site a besoin des cookies pour vérifier votre navigateur, et votre navigateur les refuse. Autorisez les cookies pour ce site, puis rechargez la page.",
		Blocked:             "La vérification n’a pas pu démarrer : un fichier de ce site n’a pas pu être chargé (bloqueur de contenu ou connexion interrompue). Autorisez ce site dans votre bloqueur de contenu, ou vérifiez votre connexion, puis rechargez la page.",
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
		TooManyChecks:       "Votre réseau a demandé trop de vérifications de navigateur pour le moment. Réessayez dans %d min.",
		TooManyKept:         "Ce que vous avez saisi n’est pas perdu : revenez au formulaire (avec le bouton ci-dessous, ou le bouton « Précédent » de votre navigateur, deux fois si besoin), puis envoyez-le de nouveau à ce moment-là.",
		BackToForm:          "Revenir au formulaire",
		ExpiredTitle:        "Envoi expiré",
		Expired:             "Votre envoi a attendu trop longtemps et n’a pas été transmis. Revenez en arrière et envoyez le formulaire de nouveau.",
		CrossSiteTitle:      "Formulaire envoyé depuis un autre site",
		CrossSite:           "Ce formulaire a été envoyé depuis une page d’un autre site. Pour signer, ouvrez la pétition sur son propre site et remplissez-y le formulaire.",
		UnreadablePathTitle: "Adresse invalide",
		UnreadablePath:      "L’adresse demandée contient des caractères que ce site n’accepte pas pour un envoi.",
		AddressTooLongTitle: "Adresse trop longue",
		AddressTooLong:      "L’adresse à laquelle ce formulaire a été envoyé est trop longue pour que ce site vérifie l’envoi. Revenez en arrière, rouvrez la page de la pétition à son adresse habituelle, puis envoyez le formulaire depuis celle-ci.",
		NotFoundTitle:       "Page introuvable",
		NotFound:            "Cette adresse n’existe pas sur ce site.",
		NotAllowedTitle:     "Requête non acceptée",
		NotAllowed:          "Cette adresse n’accepte pas ce type de requête.",
		Back:                "Revenir à la page d’accueil",
		UnavailableTitle:    "Service momentanément indisponible",
		Unavailable:         "Votre envoi est conservé. Rechargez cette page dans quelques secondes pour le transmettre.",
	},
	"en": {
		Title:               "Checking your browser",
		Intro:               "This site is protected against bots: your browser must first pass a short check.",
		Auto:                "Your browser is doing a short calculation, with nothing to click: you will continue in a moment.",
		Progress:            "Verification progress",
		Starting:            "Starting the check…",
		Working:             "Checking: %d% chance of being done by now.",
		Estimate:            "About %s s on average on this device.",
		Done:                "Verified. Redirecting…",
		NoScript:            "This check needs JavaScript. Please enable it, then reload the page.",
		NoScriptWait:        "Without JavaScript, the check asks you to wait %d seconds: please wait, then select “Continue”.",
		Continue:            "Continue",
		WaitMore:            "%d s left to wait: please wait, then select “Continue” again. Your wait goes on; it does not start over.",
		NoCookies:           "This site needs cookies to check your browser, and your browser refuses them. Allow cookies for this site, then reload the page.",
		Blocked:             "The check could not start: a file from this site could not be loaded (content blocker or interrupted connection). Allow this site in your content blocker, or check your connection, then reload the page.",
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
		TooManyChecks:       "Your network has asked for too many browser checks for now. Please try again in %d min.",
		TooManyKept:         "What you typed is not lost: go back to the form (with the button below, or your browser’s Back button, twice if needed), then send it again at that time.",
		BackToForm:          "Back to the form",
		ExpiredTitle:        "Submission expired",
		Expired:             "Your submission waited too long and was not sent. Go back and submit the form again.",
		CrossSiteTitle:      "Form sent from another site",
		CrossSite:           "This form was sent from a page of another site. To sign, open the petition on its own site and fill in the form there.",
		UnreadablePathTitle: "Invalid address",
		UnreadablePath:      "The requested address contains characters this site does not accept for a submission.",
		AddressTooLongTitle: "Address too long",
		AddressTooLong:      "The address this form was sent to is too long for this site to check the submission. Go back, open the petition’s page again at its usual address, then send the form from there.",
		NotFoundTitle:       "Page not found",
		NotFound:            "This address does not exist on this site.",
		NotAllowedTitle:     "Request not accepted",
		NotAllowed:          "This address does not accept this kind of request.",
		Back:                "Back to the home page",
		UnavailableTitle:    "Service briefly unavailable",
		Unavailable:         "Your submission is kept. Reload this page in a few seconds to send it.",
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
