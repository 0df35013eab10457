// A petition on Express 4, as a small site would write it: default routing
// (case-insensitive, non-strict: /SIGN and /sign/ reach the /sign handler),
// the urlencoded body parser, and method-override reading
// X-HTTP-Method-Override on any method (its most permissive setting, so
// that a GET claiming POST reaches the POST handler). It counts signatures
// in memory. Usage: node app.js <port> (0 picks a free port); it prints
// "listening <port>" once it accepts connections.
'use strict';

const express = require('express');
const methodOverride = require('method-override');

const app = express();
app.use(methodOverride('X-HTTP-Method-Override', { methods: null }));
app.use(express.urlencoded({ extended: false }));

let signatures = 0;

app.get('/', (req, res) => {
  res.type('html').send(`<!doctype html>
<html lang="fr">
<head><meta charset="utf-8"><title>Pétition Express</title></head>
<body>
<h1>Pétition Express</h1>
<p><span id="count">${signatures}</span> signatures</p>
<form id="petition" method="post" action="/sign">
<label>Nom <input id="name" name="name" required></label>
<label>Courriel <input id="email" name="email" type="email" required></label>
<button id="sign" type="submit">Signer</button>
</form>
</body>
</html>
`);
});

// Every request that reaches this handler is a signature, whatever its
// body: the test counts what the shield let through, not what is valid.
app.post('/sign', (req, res) => {
  signatures++;
  res.type('html').send(`<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Merci</title></head>
<body><p id="thanks">Merci, signature n° ${signatures}.</p></body></html>
`);
});

app.get('/count', (req, res) => {
  res.json({ count: signatures });
});

const port = Number(process.argv[2] || 3000);
const server = app.listen(port, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
