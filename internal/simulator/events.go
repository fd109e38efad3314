package simulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// ExportEventType is the type the Hub gives the event it writes for every
// call of the export endpoint. It is missing from the published enum.
const ExportEventType = "org.audit_log.export"

// createdAtLayout is RFC 3339 in UTC with milliseconds, as the Hub writes it.
const createdAtLayout = "2006-01-02T15:04:05.000Z"

// knownTypes is the `type` enum of shared/hf-audit-log-export.schema.json.
var knownTypes = []string{
	"billing.update_payment_method", "billing.create_customer", "billing.remove_payment_method",
	"billing.aws_add", "billing.aws_remove", "billing.gcp_add", "billing.gcp_remove",
	"billing.marketplace_approve", "billing.cancel_subscription", "billing.renew_subscription",
	"billing.start_subscription", "billing.un_cancel_subscription", "billing.update_subscription",
	"billing.update_subscription_plan",
	"collection.create", "collection.delete", "collection.update_resource_group",
	"org.add_user", "org.change_role", "org.create", "org.delete", "org.restore", "org.invite_user",
	"org.invite.accept", "org.invite.email", "org.join.from_domain", "org.join.automatic", "org.leave",
	"org.remove_user", "org.rename", "org.rotate_token", "org.sso_login", "org.sso_join",
	"org.update_join_settings", "org.update_settings", "org.settings.regions", "org.settings.profile",
	"org.settings.resource_groups", "org.settings.publisher_gating", "org.settings.inference_providers",
	"org.settings.inference_providers.keys.add", "org.settings.inference_providers.keys.remove",
	"org.settings.inference_providers.usage", "org.settings.sso", "org.settings.sso.enable",
	"org.settings.sso.disable", "org.settings.security.repo_visibility",
	"org.settings.security.2fa.enable", "org.settings.security.2fa.disable",
	"org.settings.security.auto_join.enable", "org.settings.security.auto_join.disable",
	"org.settings.security.members_privacy.enable", "org.settings.security.members_privacy.disable",
	"org.settings.network", "org.settings.network.ip_restriction.enable",
	"org.settings.network.ip_restriction.disable", "org.settings.network.auth_enforcement.enable",
	"org.settings.network.auth_enforcement.disable", "org.token_approval.enabled",
	"org.token_approval.disabled", "org.token_approval.authorization_request",
	"org.token_approval.authorization_request.authorized",
	"org.token_approval.authorization_request.revoked",
	"org.token_approval.authorization_request.denied",
	"repo.add_secrets", "repo.remove_secrets", "repo.add_secret", "repo.update_secret",
	"repo.remove_secret", "repo.create", "repo.delete", "repo.disable", "repo.removeDisable",
	"repo.duplication", "repo.delete_doi", "repo.move", "repo.update_resource_group",
	"repo.update_settings", "repo.add_variable", "repo.update_variable", "repo.remove_variable",
	"repo.add_variables", "repo.remove_variables", "repo.delete_lfs_file",
	"repo.add_trusted_publisher", "repo.remove_trusted_publisher",
	"spaces.add_storage", "spaces.remove_storage", "spaces.set_volumes", "spaces.remove_volumes",
	"spaces.update_hardware", "spaces.update_sleep_time",
	"resource_group.create", "resource_group.add_users", "resource_group.remove_users",
	"resource_group.change_role", "resource_group.settings", "resource_group.delete",
	"jobs.create", "jobs.cancel", "jobs.update_labels", "jobs.update_expose",
	"scheduled_job.create", "scheduled_job.delete", "scheduled_job.resume", "scheduled_job.suspend",
	"scheduled_job.run", "scheduled_job.update_schedule", "scheduled_job.update_labels",
	"org.service_account.create", "org.service_account.delete", "org.service_account.token.create",
	"org.service_account.token.delete", "org.service_account.token.rotate",
	"org.service_account.token.update",
	"oauth.token",
}

// unknownTypes are plausible future types, not in the enum.
var unknownTypes = []string{
	"org.future_feature.enable", "repo.quantum_sync", "spaces.teleport", "billing.crypto_add",
	"jobs.hibernate", "org.settings.ai_guardrails.enable",
}

type author struct {
	ID        string `json:"_id"`
	User      string `json:"user"`
	AvatarURL string `json:"avatarUrl"`
	Type      string `json:"type"`
	Deleted   *bool  `json:"deleted,omitempty"`
}

type location struct {
	Formatted string `json:"formatted"`
	Country   string `json:"country,omitempty"`
	City      string `json:"city,omitempty"`
}

type token struct {
	Type    string `json:"type"`
	ID      string `json:"id"`
	Role    string `json:"role,omitempty"`
	Last4   string `json:"last4,omitempty"`
	Deleted bool   `json:"deleted"`
}

type oauth struct {
	ClientID string `json:"clientId"`
	Name     string `json:"name,omitempty"`
}

// wireEvent fixes the field order of the JSON the simulator serves.
// RawMessage fields are omitted when empty and may hold `null`.
type wireEvent struct {
	ID        string          `json:"_id"`
	CreatedAt string          `json:"createdAt"`
	Type      string          `json:"type"`
	Data      json.RawMessage `json:"data,omitempty"`
	Message   string          `json:"message"`
	IP        json.RawMessage `json:"ip,omitempty"`
	Location  *location       `json:"location,omitempty"`
	UserAgent json.RawMessage `json:"userAgent,omitempty"`
	Author    author          `json:"author"`
	Token     *token          `json:"token,omitempty"`
	OAuth     *oauth          `json:"oauth,omitempty"`
}

// event is one entry of the window; raw is what is served, byte for byte.
type event struct {
	seq    uint64
	id     string
	at     time.Time
	typ    string
	author string
	ip     string
	raw    []byte
}

type poolUser struct {
	name    string
	id      string
	deleted bool
}

var users = func() []poolUser {
	names := []string{
		"alice", "bob", "carol", "dmitri", "eun-ji", "fatima", "gustavo", "hiroshi", "ines", "jamal",
		"kasia", "lars", "mei", "nnamdi", "olga", "priya", "quentin", "rosa", "sven", "tariq",
	}
	out := make([]poolUser, len(names))
	for i, n := range names {
		out[i] = poolUser{name: n, id: fmt.Sprintf("64f1a2b3c4d5e6f7%08x", 0x10000+i*7919), deleted: i%9 == 8}
	}
	return out
}()

var systemAuthor = author{
	ID:        "000000000000000000000001",
	User:      "system",
	AvatarURL: "https://huggingface.co/front/assets/huggingface_logo-noborder.svg",
	Type:      "system",
}

type poolIP struct {
	ip  string
	loc location
}

// Real public addresses of well-known networks, so that enrichment tests
// find them in GeoLite City/ASN databases.
var ips = []poolIP{
	{"8.8.8.8", location{"Mountain View, California, United States", "United States", "Mountain View"}},
	{"1.1.1.1", location{"Sydney, New South Wales, Australia", "Australia", "Sydney"}},
	{"9.9.9.9", location{"Zurich, Switzerland", "Switzerland", "Zurich"}},
	{"208.67.222.222", location{"San Francisco, California, United States", "United States", "San Francisco"}},
	{"13.107.42.14", location{"Redmond, Washington, United States", "United States", "Redmond"}},
	{"151.101.1.69", location{"San Francisco, California, United States", "United States", "San Francisco"}},
	{"140.82.112.3", location{"San Francisco, California, United States", "United States", "San Francisco"}},
	{"185.199.108.153", location{"San Francisco, California, United States", "United States", "San Francisco"}},
	{"104.16.132.229", location{"Toronto, Ontario, Canada", "Canada", "Toronto"}},
	{"17.253.144.10", location{"Cupertino, California, United States", "United States", "Cupertino"}},
	{"31.13.72.36", location{"Stockholm, Stockholm County, Sweden", "Sweden", "Stockholm"}},
	{"52.94.236.248", location{"Ashburn, Virginia, United States", "United States", "Ashburn"}},
	// Access networks, which GeoLite City places in a city.
	{"81.2.69.142", location{"Bracknell, England, United Kingdom", "United Kingdom", "Bracknell"}},
	{"128.101.101.101", location{"Minneapolis, Minnesota, United States", "United States", "Minneapolis"}},
	{"2.125.160.216", location{"Plymouth, England, United Kingdom", "United Kingdom", "Plymouth"}},
	{"133.11.0.1", location{"Tokyo, Japan", "Japan", "Tokyo"}},
	{"200.160.2.3", location{"Sao Paulo, Brazil", "Brazil", "Sao Paulo"}},
	{"41.206.32.1", location{"Nairobi, Kenya", "Kenya", "Nairobi"}},
	{"49.255.14.18", location{"Sydney, New South Wales, Australia", "Australia", "Sydney"}},
	{"194.25.0.1", location{"Trostberg, Bavaria, Germany", "Germany", "Trostberg"}},
}

var userAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0",
	"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36",
	"huggingface_hub/0.27.0; python/3.12.7; torch/2.5.1",
	"huggingface_hub/0.26.2; python/3.11.10; session_id/2f0c1b9e",
	"git/2.47.1",
	"git-lfs/3.6.0 (GitHub; linux amd64; go 1.23.3)",
	"curl/8.11.0",
	"unknown/None; hf_hub/0.25.1; python/3.10.14",
}

var oauthApps = []oauth{
	{"6a2f0c3e-9b1d-4e7a-8c55-0f3b2d1e9a77", "Gradio Notebook Login"},
	{"d41c7e90-5ab3-4f12-9e6d-2c8b7a0f1e33", "Acme SSO Bridge"},
	{"0b9e8d7c-6f5a-4321-8d0e-1a2b3c4d5e6f", "データ分析ダッシュボード"},
}

var (
	roles     = []string{"read", "contributor", "write", "admin"}
	repoKinds = []string{"model", "dataset", "space"}
	repoBases = []string{"llama-ft-7b", "bert-base-support", "whisper-small-de", "sales-forecast", "ocr-invoices", "chatbot-demo", "sd-xl-lora", "eval-harness"}
	hardware  = []string{"cpu-basic", "cpu-upgrade", "t4-small", "a10g-small", "a10g-large", "a100-large", "h100"}
	groups    = []string{"research", "platform", "Équipe R&D", "生成AI", "legal-review"}
	titles    = []string{"Best models of the quarter", "Modèles préférés 🤗", "日本語モデル集", "Eval datasets (internal)"}
)

// generator builds schema-valid events from a seeded random source.
type generator struct {
	rng          *rand.Rand
	org          string
	optional     string
	unknownRatio float64
	counter      uint64
	benign       bool // the benign profile (benign.go) instead of the random mix
}

func (g *generator) pick(n int) int { return g.rng.IntN(n) }

func (g *generator) chance(p float64) bool { return g.rng.Float64() < p }

// has decides whether an optional field is present.
func (g *generator) has(p float64) bool {
	switch g.optional {
	case OptionalAll:
		return true
	case OptionalNone:
		return false
	}
	return g.chance(p)
}

// isNull decides, in mixed mode only, whether a present field is JSON null.
func (g *generator) isNull() bool { return g.optional == OptionalMixed && g.chance(0.05) }

// nextID returns a 24-hex id: 8 hex seconds of insertion time + 16 hex counter,
// in the spirit of a MongoDB ObjectId.
func (g *generator) nextID(insertedAt time.Time) string {
	g.counter++
	return fmt.Sprintf("%08x%016x", uint32(insertedAt.Unix()), g.counter)
}

func (g *generator) hex(n int) string {
	var b strings.Builder
	for range n {
		b.WriteByte("0123456789abcdef"[g.pick(16)])
	}
	return b.String()
}

func (g *generator) repo(kind string) map[string]any {
	if kind == "" {
		kind = repoKinds[g.pick(len(repoKinds))]
	}
	return map[string]any{"name": g.org + "/" + repoBases[g.pick(len(repoBases))], "type": kind}
}

func (g *generator) user() poolUser { return users[g.pick(len(users))] }

// payload returns the data and message of an event of type typ.
func (g *generator) payload(typ string) (any, string) {
	u := g.user().name
	switch typ {
	case "org.add_user":
		r := roles[g.pick(len(roles))]
		return map[string]any{"user": u, "role": r}, fmt.Sprintf("Added %s to %s with role %s", u, g.org, r)
	case "org.change_role":
		r := roles[g.pick(len(roles))]
		return map[string]any{"user": u, "role": r, "previousRole": roles[g.pick(len(roles))]}, fmt.Sprintf("Changed role of %s to %s", u, r)
	case "org.remove_user", "org.leave":
		return map[string]any{"user": u}, fmt.Sprintf("%s left %s", u, g.org)
	case "org.invite_user":
		return map[string]any{"email": u + "@example.com", "role": "read"}, "Invited " + u + "@example.com"
	case "repo.create", "repo.delete", "repo.disable", "repo.delete_doi":
		rp := g.repo("")
		return map[string]any{"repo": rp, "private": g.chance(0.5)}, fmt.Sprintf("%s %s %s", verb(typ), rp["type"], rp["name"])
	case "repo.update_settings":
		rp := g.repo("")
		return map[string]any{"repo": rp, "settings": map[string]any{"private": g.chance(0.5), "gated": []any{"auto", "manual", false}[g.pick(3)], "discussionsDisabled": nil}},
			fmt.Sprintf("Updated settings of %s", rp["name"])
	case "repo.add_secret", "repo.update_secret", "repo.remove_secret", "repo.add_variable", "repo.update_variable":
		rp := g.repo("space")
		key := []string{"HF_TOKEN", "OPENAI_API_KEY", "DB_PASSWORD", "MODEL_ID"}[g.pick(4)]
		return map[string]any{"repo": rp, "key": key}, fmt.Sprintf("%s %s on %s", verb(typ), key, rp["name"])
	case "repo.add_secrets", "repo.remove_secrets":
		rp := g.repo("space")
		return map[string]any{"repo": rp, "keys": []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"}}, "Updated secrets of " + rp["name"].(string)
	case "repo.move":
		rp := g.repo("")
		return map[string]any{"repo": rp, "from": rp["name"], "to": rp["name"].(string) + "-v2"}, "Moved " + rp["name"].(string)
	case "repo.delete_lfs_file":
		rp := g.repo("model")
		return map[string]any{"repo": rp, "oid": g.hex(64), "size": 1 + g.pick(4_000_000_000)}, "Deleted LFS file from " + rp["name"].(string)
	case "org.settings.sso.enable", "org.settings.sso.disable", "org.settings.sso":
		return map[string]any{"provider": []string{"okta", "azure-ad", "google"}[g.pick(3)], "protocol": "saml", "domains": []string{"example.com"}}, "Updated SSO settings"
	case "org.update_settings":
		// The legacy event (before the June 2026 split into org.settings.*):
		// data is the patch of one settings area.
		return map[string]any{"profile": map[string]any{"displayName": g.org}}, "Updated organization settings"
	case "org.sso_login":
		return "okta", u + " logged in with SSO"
	case "org.rotate_token":
		return nil, "Rotated the organization token"
	case "org.settings.network.ip_restriction.enable":
		return map[string]any{"cidrs": []string{"203.0.113.0/24", "2001:db8::/32"}}, "Enabled IP restriction"
	case "org.settings.inference_providers.usage":
		return float64(g.pick(100000)) / 100, "Viewed inference providers usage"
	case "spaces.update_hardware":
		rp := g.repo("space")
		return map[string]any{"repo": rp, "hardware": map[string]any{"from": hardware[g.pick(len(hardware))], "to": hardware[g.pick(len(hardware))]}}, "Changed hardware of " + rp["name"].(string)
	case "spaces.update_sleep_time":
		rp := g.repo("space")
		return map[string]any{"repo": rp, "sleepTimeSeconds": []int{300, 3600, 172800, -1}[g.pick(4)]}, "Updated sleep time of " + rp["name"].(string)
	case "jobs.create", "jobs.cancel":
		return map[string]any{"jobId": g.hex(24), "flavor": hardware[g.pick(len(hardware))], "command": []string{"python", "train.py", "--epochs", "3"}, "timeoutSeconds": 3600, "labels": map[string]any{"team": "research"}}, verb(typ) + " job"
	case "scheduled_job.create", "scheduled_job.update_schedule":
		return map[string]any{"scheduledJobId": g.hex(24), "schedule": "0 * * * *", "suspend": false}, "Scheduled a job"
	case "collection.create", "collection.delete":
		title := titles[g.pick(len(titles))]
		return map[string]any{"collection": map[string]any{"slug": g.org + "/" + "picks-" + g.hex(24), "title": title}}, verb(typ) + " collection «" + title + "»"
	case "billing.update_subscription", "billing.start_subscription":
		seats := 5 + g.pick(50)
		return map[string]any{"plan": []string{"team", "enterprise"}[g.pick(2)], "seats": seats, "previousSeats": seats - 1}, "Updated subscription"
	case "oauth.token":
		return map[string]any{"scopes": []string{"openid", "profile", "read-repos"}}, "Issued an OAuth token"
	case "resource_group.add_users", "resource_group.remove_users":
		return []any{map[string]any{"user": u, "role": "write"}, map[string]any{"user": g.user().name, "role": "read"}}, verb(typ) + " users of resource group " + groups[g.pick(len(groups))]
	case "resource_group.create", "resource_group.delete":
		gr := groups[g.pick(len(groups))]
		return map[string]any{"resourceGroup": map[string]any{"id": g.hex(24), "name": gr}}, verb(typ) + " resource group " + gr
	case "org.service_account.token.create", "org.service_account.token.rotate":
		return map[string]any{"serviceAccount": "svc-ingest", "tokenId": g.hex(24), "expiresAt": nil}, verb(typ) + " service account token"
	}
	return map[string]any{"target": g.org, "note": "simulated"}, strings.ReplaceAll(typ, ".", " ")
}

func verb(typ string) string {
	for _, v := range []struct{ suffix, word string }{
		{"create", "Created"}, {"delete", "Deleted"}, {"disable", "Disabled"}, {"delete_doi", "Deleted DOI of"},
		{"add_secret", "Added secret"}, {"update_secret", "Updated secret"}, {"remove_secret", "Removed secret"},
		{"add_variable", "Added variable"}, {"update_variable", "Updated variable"},
		{"cancel", "Cancelled"}, {"add_users", "Added"}, {"remove_users", "Removed"}, {"rotate", "Rotated"},
	} {
		if strings.HasSuffix(typ, v.suffix) {
			return v.word
		}
	}
	return "Changed"
}

// commonTypes dominate the mix; the rest of the enum appears uniformly.
var commonTypes = []string{
	"org.add_user", "org.change_role", "org.remove_user", "org.invite_user", "org.sso_login", "org.sso_login",
	"repo.create", "repo.create", "repo.delete", "repo.update_settings", "repo.update_settings", "repo.add_secret",
	"repo.add_secrets", "repo.move", "repo.delete_lfs_file", "org.settings.sso.enable", "org.rotate_token",
	"org.settings.network.ip_restriction.enable", "org.settings.inference_providers.usage",
	"spaces.update_hardware", "spaces.update_sleep_time", "jobs.create", "jobs.create", "scheduled_job.create",
	"collection.create", "billing.update_subscription", "oauth.token", "resource_group.add_users",
	"resource_group.create", "org.service_account.token.create",
}

func (g *generator) pickType() string {
	switch {
	case g.unknownRatio > 0 && g.chance(g.unknownRatio):
		return unknownTypes[g.pick(len(unknownTypes))]
	case g.chance(0.8):
		return commonTypes[g.pick(len(commonTypes))]
	}
	return knownTypes[g.pick(len(knownTypes))]
}

// generate builds one random event created at `at` and inserted at `insertedAt`.
func (g *generator) generate(at, insertedAt time.Time) *event {
	if g.benign {
		return g.generateBenign(at, insertedAt)
	}
	typ := g.pickType()
	data, msg := g.payload(typ)
	w := wireEvent{
		ID:        g.nextID(insertedAt),
		CreatedAt: at.UTC().Format(createdAtLayout),
		Type:      typ,
		Message:   msg,
	}
	pu := g.user()
	if g.chance(0.05) {
		w.Author = systemAuthor
	} else {
		w.Author = author{ID: pu.id, User: pu.name, AvatarURL: "https://cdn-avatars.huggingface.co/v1/production/uploads/" + pu.id + "/avatar.png", Type: "user"}
		if g.has(0.3) {
			d := pu.deleted
			w.Author.Deleted = &d
		}
	}
	if g.has(0.85) {
		w.Data = g.rawOrNull(data)
	}
	ipEntry := ips[g.pick(len(ips))]
	ip := ""
	if g.has(0.85) {
		if g.isNull() {
			w.IP = json.RawMessage("null")
		} else {
			ip = ipEntry.ip
			w.IP = mustJSON(ip)
			if g.has(0.8) {
				loc := location{Formatted: ipEntry.loc.Formatted}
				if g.has(0.8) {
					loc.Country = ipEntry.loc.Country
				}
				if g.has(0.8) {
					loc.City = ipEntry.loc.City
				}
				w.Location = &loc
			}
		}
	}
	if g.has(0.75) {
		if g.isNull() {
			w.UserAgent = json.RawMessage("null")
		} else {
			w.UserAgent = mustJSON(userAgents[g.pick(len(userAgents))])
		}
	}
	if w.Author.Type == "user" && g.has(0.4) {
		t := token{Type: "access_token", ID: g.hex(24), Deleted: g.chance(0.1)}
		if g.has(0.8) {
			t.Role = []string{"read", "write", "fineGrained"}[g.pick(3)]
		}
		if g.has(0.8) {
			t.Last4 = g.hex(4)
		}
		w.Token = &t
	}
	if (typ == "oauth.token" && g.optional != OptionalNone) || g.has(0.1) {
		o := oauthApps[g.pick(len(oauthApps))]
		if !g.has(0.7) {
			o.Name = ""
		}
		w.OAuth = &o
	}
	return newEvent(w, at, ip)
}

func (g *generator) rawOrNull(v any) json.RawMessage {
	if v == nil || g.isNull() {
		return json.RawMessage("null")
	}
	return mustJSON(v)
}

func newEvent(w wireEvent, at time.Time, ip string) *event {
	return &event{id: w.ID, at: at, typ: w.Type, author: w.Author.User, ip: ip, raw: mustJSON(w)}
}

// mustJSON encodes v without HTML escaping; v is always encodable here.
func mustJSON(v any) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(fmt.Sprintf("simulator: encoding %T: %v", v, err))
	}
	return bytes.TrimRight(buf.Bytes(), "\n")
}
