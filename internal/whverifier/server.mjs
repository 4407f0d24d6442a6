// An independent Standard Webhooks receiver for delivery/webhook's tests:
// every POST is verified with the npm standardwebhooks library (v1, one
// Webhook per configured secret, so each secret must verify on its own)
// and, for v1a, with node's own Ed25519 (the library has none). A POST
// that fails gets 401 and the reason; one that passes is logged (GET
// /_log) and answered as ANSWERS says for its path.
//
//   SECRETS      whsec_… secrets, comma-separated
//   PUBLIC_KEYS  whpk_… keys, comma-separated
//   ANSWERS      {"/path": {"status": 200, "body": {…} | "text"}}
import http from "node:http";
import crypto from "node:crypto";
import { Webhook } from "standardwebhooks";

const list = (v) => (v || "").split(",").filter(Boolean);
const secrets = list(process.env.SECRETS);
const publicKeys = list(process.env.PUBLIC_KEYS).map((k) => {
	if (!k.startsWith("whpk_")) throw new Error("public key without whpk_");
	const raw = Buffer.from(k.slice(5), "base64");
	return crypto.createPublicKey({
		key: { kty: "OKP", crv: "Ed25519", x: raw.toString("base64url") },
		format: "jwk",
	});
});
const answers = JSON.parse(process.env.ANSWERS || "{}") || {};
const log = [];

function verify(req, body) {
	if (req.headers["content-type"] !== "application/json") {
		throw new Error(`content-type is ${req.headers["content-type"]}`);
	}
	const verified = [];
	let payload;
	secrets.forEach((s, i) => {
		payload = new Webhook(s).verify(body, req.headers);
		verified.push(`secret${i + 1}`);
	});
	const id = req.headers["webhook-id"];
	const ts = req.headers["webhook-timestamp"];
	const signed = Buffer.from(`${id}.${ts}.${body}`);
	const v1a = (req.headers["webhook-signature"] || "")
		.split(" ")
		.filter((s) => s.startsWith("v1a,"))
		.map((s) => Buffer.from(s.slice(4), "base64"));
	publicKeys.forEach((key, i) => {
		if (!v1a.some((sig) => crypto.verify(null, signed, key, sig))) {
			throw new Error(`no v1a signature verifies with public key ${i + 1}`);
		}
		verified.push(`key${i + 1}`);
	});
	if (Math.abs(Date.now() / 1000 - Number(ts)) > 300) throw new Error("timestamp out of tolerance");
	return { id, timestamp: Number(ts), verified, payload: payload ?? JSON.parse(body) };
}

const server = http.createServer((req, res) => {
	const chunks = [];
	req.on("data", (c) => chunks.push(c));
	req.on("end", () => {
		if (req.method === "GET" && req.url === "/_log") {
			res.writeHead(200, { "content-type": "application/json" });
			res.end(JSON.stringify(log));
			return;
		}
		const body = Buffer.concat(chunks).toString("utf8");
		let entry;
		try {
			entry = verify(req, body);
		} catch (e) {
			res.writeHead(401, { "content-type": "text/plain" });
			res.end(`verification failed: ${e.message}`);
			return;
		}
		entry.path = req.url;
		log.push(entry);
		const a = answers[req.url];
		if (!a) {
			res.writeHead(204);
			res.end();
			return;
		}
		const text = typeof a.body === "string" ? a.body : JSON.stringify(a.body);
		res.writeHead(a.status || 200, { "content-type": "application/json" });
		res.end(text);
	});
});
server.listen(0, "127.0.0.1", () => {
	process.stdout.write(`listening ${server.address().port}\n`);
});
