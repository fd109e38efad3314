package simulator

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// The benign profile: ordinary activity of a stable team, for testing that
// detections stay silent on it. Only everyday event types; every member
// always works from the same address (so the same network and country) with
// the same token; nobody is promoted to admin, no repository is made public or
// moved out, no secret is added, no security setting changes, jobs are
// created only by the members who always do, and events never pause for long.

type benignMember struct {
	user     poolUser
	ip       poolIP
	tokenID  string
	last4    string
	runsJobs bool
}

// benignTeam: the first eight users of the pool, each with a fixed address
// from the pool (distinct networks) and a fixed token.
var benignTeam = func() []benignMember {
	addr := []int{0, 2, 12, 13, 14, 15, 16, 19} // 8.8.8.8, 9.9.9.9, 81.2.69.142, 128.101.101.101, ...
	out := make([]benignMember, len(addr))
	for i, a := range addr {
		out[i] = benignMember{
			user:     users[i],
			ip:       ips[a],
			tokenID:  fmt.Sprintf("b0b0b0b0b0b0b0b0%08x", i+1),
			last4:    fmt.Sprintf("b%03d", i+1),
			runsJobs: i < 4,
		}
	}
	return out
}()

// benignTypes with their weights.
var benignTypes = []struct {
	typ    string
	weight int
}{
	{"org.sso_login", 15}, {"repo.create", 10}, {"repo.update_settings", 10}, {"repo.delete", 2},
	{"repo.delete_lfs_file", 4}, {"collection.create", 4}, {"collection.delete", 1},
	{"spaces.update_sleep_time", 4}, {"spaces.update_hardware", 2}, {"jobs.create", 6},
	{"scheduled_job.create", 2}, {"oauth.token", 5}, {"org.invite_user", 2}, {"org.add_user", 2},
	{"org.change_role", 2}, {"org.remove_user", 1}, {"repo.remove_secret", 1},
	{"org.settings.inference_providers.usage", 2}, {"billing.update_subscription", 1},
	{"org.token_approval.authorization_request", 1}, {"org.token_approval.authorization_request.authorized", 1},
}

var benignTotal = func() int {
	n := 0
	for _, t := range benignTypes {
		n += t.weight
	}
	return n
}()

func (g *generator) benignType(m benignMember) string {
	for {
		r := g.pick(benignTotal)
		for _, t := range benignTypes {
			if r < t.weight {
				if (t.typ == "jobs.create" || t.typ == "scheduled_job.create") && !m.runsJobs {
					break // pick again
				}
				return t.typ
			}
			r -= t.weight
		}
	}
}

// benignPayload is payload without the security-relevant variants: new
// repositories and settings stay private, roles never reach admin, Space
// hardware stays on CPU.
func (g *generator) benignPayload(typ string, author benignMember) (any, string) {
	nonAdmin := []string{"read", "contributor", "write"}
	u := benignTeam[g.pick(len(benignTeam))].user.name
	switch typ {
	case "org.token_approval.authorization_request":
		return map[string]any{"tokenId": author.tokenID, "user": author.user.name}, "Requested access for a token"
	case "org.token_approval.authorization_request.authorized":
		// Another member's request: nobody approves their own.
		other := benignTeam[g.pick(len(benignTeam))]
		for other.user.name == author.user.name {
			other = benignTeam[g.pick(len(benignTeam))]
		}
		return map[string]any{"tokenId": other.tokenID, "user": other.user.name}, "Authorized a token"

	case "repo.create":
		rp := g.repo("")
		return map[string]any{"repo": rp, "private": true}, fmt.Sprintf("Created %s %s", rp["type"], rp["name"])
	case "repo.update_settings":
		rp := g.repo("")
		return map[string]any{"repo": rp, "settings": map[string]any{"private": true, "gated": []any{"auto", "manual", false}[g.pick(3)]}},
			fmt.Sprintf("Updated settings of %s", rp["name"])
	case "org.add_user", "org.invite_user":
		r := nonAdmin[g.pick(len(nonAdmin))]
		return map[string]any{"user": u, "role": r}, fmt.Sprintf("Added %s to %s with role %s", u, g.org, r)
	case "org.change_role":
		r := nonAdmin[g.pick(len(nonAdmin))]
		return map[string]any{"user": u, "role": r, "previousRole": nonAdmin[g.pick(len(nonAdmin))]}, fmt.Sprintf("Changed role of %s to %s", u, r)
	case "spaces.update_hardware":
		rp := g.repo("space")
		from, to := "cpu-basic", "cpu-upgrade"
		if g.chance(0.5) {
			from, to = to, from
		}
		return map[string]any{"repo": rp, "hardware": map[string]any{"from": from, "to": to}}, "Changed hardware of " + rp["name"].(string)
	case "jobs.create":
		return map[string]any{"jobId": g.hex(24), "flavor": "cpu-basic", "command": []string{"python", "eval.py"}, "timeoutSeconds": 3600}, "Created job"
	case "repo.remove_secret":
		rp := g.repo("space")
		return map[string]any{"repo": rp, "key": "OLD_API_KEY"}, "Removed secret OLD_API_KEY on " + rp["name"].(string)
	}
	return g.payload(typ)
}

// generateBenign builds one benign event: every field present, the member's
// own address, location and (for 40% of events) token.
func (g *generator) generateBenign(at, insertedAt time.Time) *event {
	m := benignTeam[g.pick(len(benignTeam))]
	typ := g.benignType(m)
	data, msg := g.benignPayload(typ, m)
	loc := m.ip.loc
	w := wireEvent{
		ID:        g.nextID(insertedAt),
		CreatedAt: at.UTC().Format(createdAtLayout),
		Type:      typ,
		Data:      mustJSON(data),
		Message:   msg,
		IP:        mustJSON(m.ip.ip),
		Location:  &loc,
		UserAgent: mustJSON(userAgents[g.pick(3)]),
		Author: author{ID: m.user.id, User: m.user.name, Type: "user",
			AvatarURL: "https://cdn-avatars.huggingface.co/v1/production/uploads/" + m.user.id + "/avatar.png"},
	}
	if g.chance(0.4) {
		w.Token = &token{Type: "access_token", ID: m.tokenID, Role: "fineGrained", Last4: m.last4}
		w.UserAgent = mustJSON(userAgents[3])
	}
	return newEvent(w, at, m.ip.ip)
}

// NewBenign builds a Server whose events, initial and added, follow the
// benign profile: New with Options.Benign.
func NewBenign(opts Options) (*Server, error) {
	opts.Benign = true
	return New(opts)
}

// The benign month: what a real organization of about 200 members writes to
// its audit log in a month, with the benign actions a detection pack must
// take calmly (listed in Month.Actions). BenignMonth builds it, with two
// weeks of the same habits before the month so that the new-terms
// detections have a history to compare with.

// Month is a benign month and what it holds.
type Month struct {
	Org string
	// HistoryStart, Start and End: the history is [HistoryStart, Start),
	// the month [Start, End).
	HistoryStart, Start, End time.Time
	// Events are the events of the history and the month, oldest first.
	Events []json.RawMessage
	// Actions are the benign actions of the month, each with its events.
	Actions []MonthAction
	// Members is the number of members active in the month.
	Members int
	// SIEMTokenID and SIEMTokenLast4 are the token of the second SIEM that
	// exports the log every 15 minutes: the deployment allowlists it.
	SIEMTokenID, SIEMTokenLast4 string
}

// MonthAction is one benign action of the month and the events it wrote.
type MonthAction struct {
	// Name is short and stable: tests refer to it.
	Name string
	// What the organization did, in words.
	What     string
	EventIDs []string
}

// Action returns the action called name (zero if none).
func (m Month) Action(name string) MonthAction {
	for _, a := range m.Actions {
		if a.Name == name {
			return a
		}
	}
	return MonthAction{}
}

// monthMember is a member of the month's organization.
type monthMember struct {
	name, id string
	// ip is where the member works from; admins who travel have a second.
	ip, away      poolIP
	tokenID       string
	last4         string
	admin, mlEng  bool
	joinedInMonth bool
}

// Month constants: the organization's size and habits.
const (
	monthMembers   = 200
	monthAdmins    = 6
	monthMLEng     = 30
	monthJoiners   = 12 // members who join through auto-join during the month
	monthHistory   = 14 * 24 * time.Hour
	monthLength    = 30 * 24 * time.Hour
	monthSIEMEvery = 15 * time.Minute
	// monthPollEvery is the collector's poll interval: each poll writes
	// its own org.audit_log.export event, the heartbeat of the log.
	monthPollEvery = 5 * time.Minute
)

// monthOffices are the networks the organization works from: offices in the
// United Kingdom and the United States, home networks, and one cloud
// network for CI.
var monthOffices = []int{12, 14, 13, 0, 2, 15}

// BenignMonth builds the benign month of org ending at end (truncated to
// the minute). The same seed gives the same events.
func BenignMonth(org string, seed int64, end time.Time) Month {
	end = end.UTC().Truncate(time.Minute)
	m := Month{Org: org, End: end, Start: end.Add(-monthLength), HistoryStart: end.Add(-monthLength - monthHistory),
		SIEMTokenID: "6601a2b3c4d5e6f7a8b9c0d1", SIEMTokenLast4: "s13m"}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d6f6e7468))
	g := &generator{rng: rng, org: org, optional: OptionalAll, counter: rng.Uint64() >> 12}
	mb := monthBuilder{g: g, m: &m}

	members := make([]monthMember, monthMembers)
	for i := range members {
		mm := monthMember{
			name:    fmt.Sprintf("%s-%03d", []string{"ml", "data", "eng", "research", "ops"}[i%5], i),
			id:      fmt.Sprintf("66aa%020x", 0x5000+i*104729),
			ip:      ips[monthOffices[i%len(monthOffices)]],
			tokenID: fmt.Sprintf("66bb%020x", 0x7000+i*7919),
			last4:   fmt.Sprintf("%04x", 0xa000+i),
			admin:   i < monthAdmins,
			mlEng:   i >= monthAdmins && i < monthAdmins+monthMLEng,
		}
		mm.away = mm.ip
		if i < 2 { // two admins work from the UK and the US offices
			mm.ip, mm.away = ips[12], ips[13]
		}
		mm.joinedInMonth = i >= monthMembers-monthJoiners
		members[i] = mm
	}
	m.Members = monthMembers
	admins := members[:monthAdmins]

	// Every day: members at work, the collector's polls, the SIEM's exports.
	day := m.HistoryStart
	for ; day.Before(end); day = day.Add(24 * time.Hour) {
		weekend := day.Weekday() == time.Saturday || day.Weekday() == time.Sunday
		for _, mm := range members {
			if mm.joinedInMonth || weekend && g.chance(0.8) {
				continue
			}
			mb.workday(mm, day)
		}
		// The travelling admins act from both countries every week.
		if day.Weekday() == time.Monday || day.Equal(m.HistoryStart) {
			for _, a := range admins[:2] {
				mb.write(a, day.Add(8*time.Hour), a.away, false, "org.change_role",
					map[string]any{"user": members[20+g.pick(100)].name, "role": "write", "previousRole": "read"}, "Changed role")
				mb.write(a, day.Add(16*time.Hour), a.ip, false, "org.invite_user",
					map[string]any{"email": fmt.Sprintf("new-hire-%s@%s.example", g.hex(6), org), "role": "read"}, "Invited a new hire")
			}
		}
	}
	var polls []string
	for at := m.HistoryStart; at.Before(end); at = at.Add(monthPollEvery) {
		id := mb.selfExport(at.Add(time.Duration(g.pick(20)) * time.Second))
		if !at.Before(m.Start) {
			polls = append(polls, id)
		}
	}
	m.Actions = append(m.Actions, MonthAction{Name: "collector-polls", What: "the collector polls every 5 minutes: its own export events", EventIDs: polls})
	mb.siemExports()
	mb.monthActions(members)
	mb.sort()
	return m
}

type monthBuilder struct {
	g      *generator
	m      *Month
	events []*event
}

func (b *monthBuilder) write(mm monthMember, at time.Time, ip poolIP, withToken bool, typ string, data any, msg string) string {
	loc := ip.loc
	w := wireEvent{
		ID:        b.g.nextID(at),
		CreatedAt: at.UTC().Format(createdAtLayout),
		Type:      typ,
		Message:   msg,
		IP:        mustJSON(ip.ip),
		Location:  &loc,
		UserAgent: mustJSON(userAgents[b.g.pick(3)]),
		Author: author{ID: mm.id, User: mm.name, Type: "user",
			AvatarURL: "https://cdn-avatars.huggingface.co/v1/production/uploads/" + mm.id + "/avatar.png"},
	}
	if data != nil {
		w.Data = mustJSON(data)
	}
	if withToken {
		w.Token = &token{Type: "access_token", ID: mm.tokenID, Role: "fineGrained", Last4: mm.last4}
		w.UserAgent = mustJSON(userAgents[3])
	}
	e := newEvent(w, at, ip.ip)
	b.events = append(b.events, e)
	return e.id
}

// workday is one member's ordinary day: a login, and one or two actions on
// repositories, collections, Spaces or jobs.
func (b *monthBuilder) workday(mm monthMember, day time.Time) {
	g := b.g
	at := day.Add(time.Duration(7*60+g.pick(10*60)) * time.Minute)
	if g.chance(0.5) {
		b.write(mm, at, mm.ip, false, "org.sso_login", "okta", mm.name+" logged in with SSO")
	}
	if !g.chance(0.35) {
		return
	}
	at = at.Add(time.Duration(5+g.pick(120)) * time.Minute)
	tok := g.chance(0.4)
	rp := g.repo("")
	switch r := g.pick(10); {
	case r < 3:
		b.write(mm, at, mm.ip, tok, "repo.create", map[string]any{"repo": rp, "private": true}, "Created "+rp["name"].(string))
	case r < 5:
		b.write(mm, at, mm.ip, tok, "repo.update_settings", map[string]any{"repo": rp, "settings": map[string]any{"private": true, "gated": "manual"}}, "Updated settings")
	case r < 6:
		b.write(mm, at, mm.ip, false, "collection.create", map[string]any{"collection": map[string]any{"slug": b.m.Org + "/picks-" + g.hex(24), "title": titles[g.pick(len(titles))]}}, "Created collection")
	case r < 7:
		b.write(mm, at, mm.ip, tok, "repo.delete_lfs_file", map[string]any{"repo": rp, "oid": g.hex(64), "size": 1 + g.pick(1<<30)}, "Deleted LFS file")
	case r < 8:
		b.write(mm, at, mm.ip, false, "oauth.token", map[string]any{"scopes": []string{"openid", "profile"}}, "Issued an OAuth token")
	case r < 9 && mm.mlEng:
		b.write(mm, at, mm.ip, true, "jobs.create", map[string]any{"jobId": g.hex(24), "flavor": "a10g-small", "command": []string{"python", "train.py"}, "timeoutSeconds": 7200}, "Created job")
	default:
		sp := g.repo("space")
		b.write(mm, at, mm.ip, false, "spaces.update_sleep_time", map[string]any{"repo": sp, "sleepTimeSeconds": 3600}, "Updated sleep time")
	}
}

// selfExport is the collector's poll at at: its token owner is the
// simulator's default, as the receiver in the tests sees it.
func (b *monthBuilder) selfExport(at time.Time) string {
	w := wireEvent{
		ID: b.g.nextID(at), CreatedAt: at.UTC().Format(createdAtLayout), Type: ExportEventType, Message: "Exported audit log",
		IP: mustJSON(SelfExportIP),
		Author: author{ID: TokenOwnerID, User: DefaultTokenOwner, Type: "user",
			AvatarURL: "https://cdn-avatars.huggingface.co/v1/production/uploads/" + TokenOwnerID + "/avatar.png"},
		Token: &token{Type: "access_token", ID: SelfExportTokenID, Role: "fineGrained", Last4: DefaultToken[len(DefaultToken)-4:]},
	}
	e := newEvent(w, at, SelfExportIP)
	b.events = append(b.events, e)
	return e.id
}

// siemExports: a second SIEM polls the log with its own service-account
// token every 15 minutes, from a cloud network.
func (b *monthBuilder) siemExports() {
	siem := monthMember{name: "siem-bot", id: "6601a2b3c4d5e6f7a8b9c0d0", tokenID: b.m.SIEMTokenID, last4: b.m.SIEMTokenLast4}
	var ids []string
	for at := b.m.HistoryStart.Add(7 * time.Minute); at.Before(b.m.End); at = at.Add(monthSIEMEvery) {
		id := b.write(siem, at, ips[11], true, ExportEventType, nil, "Exported audit log")
		if !at.Before(b.m.Start) {
			ids = append(ids, id)
		}
	}
	b.m.Actions = append(b.m.Actions, MonthAction{Name: "siem-export", What: "a second SIEM exports the log every 15 minutes with its own allowlisted token", EventIDs: ids})
}

// monthActions writes the month's notable benign actions.
func (b *monthBuilder) monthActions(members []monthMember) {
	g, m := b.g, b.m
	org := m.Org
	day := func(d int, hour int) time.Time {
		return m.Start.Add(time.Duration(d)*24*time.Hour + time.Duration(hour)*time.Hour + time.Duration(g.pick(50))*time.Minute)
	}
	add := func(name, what string, ids ...string) {
		m.Actions = append(m.Actions, MonthAction{Name: name, What: what, EventIDs: ids})
	}
	owner, billingAdmin, platformAdmin, idpAdmin := members[2], members[3], members[4], members[5]

	// Members join through auto-join (enabled long ago), then start working.
	var ids []string
	for i, mm := range members[monthMembers-monthJoiners:] {
		at := day(1+i*2, 9)
		ids = append(ids, b.write(mm, at, mm.ip, false, "org.join.from_domain",
			map[string]any{"user": mm.name, "domain": org + ".example"}, mm.name+" joined through the organization's domain"))
		for d := at.Add(24 * time.Hour); d.Before(m.End); d = d.Add(24 * time.Hour) {
			b.workday(mm, d.Truncate(24*time.Hour))
		}
	}
	add("auto-join", "12 new hires join through auto-join, one every two days", ids...)

	// Owners edit their Space secrets and variables.
	ids = nil
	for i := range 24 {
		mm := members[monthAdmins+g.pick(80)]
		sp := map[string]any{"name": org + "/" + mm.name + "-demo", "type": "space"}
		typ := []string{"repo.update_secret", "repo.add_secret", "repo.update_variable"}[i%3]
		key := []string{"OPENAI_API_KEY", "HF_TOKEN", "MODEL_ID"}[i%3]
		ids = append(ids, b.write(mm, day(i, 10), mm.ip, i%2 == 0, typ, map[string]any{"repo": sp, "key": key}, "Updated "+key))
	}
	add("space-secrets", "owners edit the secrets and variables of their Spaces, 24 times", ids...)

	// ML engineers move Spaces to a GPU for an evaluation and back.
	ids = nil
	for i := range 10 {
		mm := members[monthAdmins+i]
		sp := map[string]any{"name": org + "/eval-" + mm.name, "type": "space"}
		at := day(i*3, 11)
		ids = append(ids, b.write(mm, at, mm.ip, false, "spaces.update_hardware",
			map[string]any{"repo": sp, "hardware": map[string]any{"from": "cpu-basic", "to": "a10g-small"}}, "Changed hardware"))
		ids = append(ids, b.write(mm, at.Add(3*time.Hour), mm.ip, false, "spaces.update_hardware",
			map[string]any{"repo": sp, "hardware": map[string]any{"from": "a10g-small", "to": "cpu-basic"}}, "Changed hardware"))
	}
	add("gpu-hardware", "ML engineers move 10 Spaces to a GPU for an evaluation, and back", ids...)

	// ML engineers schedule nightly evaluations.
	ids = nil
	for i := range 3 {
		mm := members[monthAdmins+10+i]
		ids = append(ids, b.write(mm, day(5+i*7, 14), mm.ip, true, "scheduled_job.create",
			map[string]any{"scheduledJobId": g.hex(24), "schedule": "0 2 * * *", "suspend": false, "flavor": "a10g-small"}, "Scheduled a job"))
	}
	add("nightly-jobs", "ML engineers schedule 3 nightly evaluation jobs", ids...)

	// Card swaps: the old card removed, the new one added minutes later.
	ids = nil
	for _, d := range []int{8, 22} {
		at := day(d, 15)
		ids = append(ids,
			b.write(billingAdmin, at, billingAdmin.ip, false, "billing.remove_payment_method", map[string]any{"paymentMethod": "card", "last4": "4242"}, "Removed a payment method"),
			b.write(billingAdmin, at.Add(4*time.Minute), billingAdmin.ip, false, "billing.update_payment_method", map[string]any{"paymentMethod": "card", "last4": "1881"}, "Updated the payment method"))
	}
	add("card-swap", "the billing admin swaps the card twice, the new one added 4 minutes after the old one is removed", ids...)

	// SSO migration: disabled, then enabled with the new provider within the hour.
	at := day(12, 19)
	add("sso-migration", "the identity admin moves SSO to a new provider: disabled, reconfigured and enabled 40 minutes later",
		b.write(idpAdmin, at, idpAdmin.ip, false, "org.settings.sso.disable", map[string]any{"provider": "okta", "protocol": "saml", "enabled": false}, "Disabled SSO"),
		b.write(idpAdmin, at.Add(25*time.Minute), idpAdmin.ip, false, "org.settings.sso", map[string]any{"provider": "azure-ad", "protocol": "saml", "domains": []string{org + ".example"}}, "Updated SSO settings"),
		b.write(idpAdmin, at.Add(40*time.Minute), idpAdmin.ip, false, "org.settings.sso.enable", map[string]any{"provider": "azure-ad", "protocol": "saml", "enabled": true}, "Enabled SSO"))

	// Admins work from two countries (written every Monday in BenignMonth).
	ids = nil
	for _, e := range b.events {
		if !e.at.Before(m.Start) && (e.author == members[0].name || e.author == members[1].name) && e.ip == members[0].away.ip {
			ids = append(ids, e.id)
		}
	}
	add("admin-two-countries", "two admins administer the organization from the UK and the US offices, every week", ids...)

	// Offboarding: three members removed the same afternoon.
	ids = nil
	for i := range 3 {
		mm := members[150+i]
		ids = append(ids, b.write(owner, day(17, 14).Add(time.Duration(i)*20*time.Minute), owner.ip, false, "org.remove_user", map[string]any{"user": mm.name}, "Removed "+mm.name))
	}
	add("offboarding", "an owner offboards 3 members in one afternoon", ids...)

	// The platform team rotates the CI service account's token once a month.
	add("service-account-rotation", "the platform admin rotates the CI service account's token (monthly)",
		b.write(platformAdmin, day(1, 10), platformAdmin.ip, false, "org.service_account.token.rotate",
			map[string]any{"serviceAccount": "svc-ci", "tokenId": g.hex(24), "expiresAt": nil}, "Rotated service account token"))

	// A model is released: one repository made public on purpose.
	rel := map[string]any{"name": org + "/sales-forecast-v2", "type": "model"}
	add("model-release", "a model is released: its repository made public",
		b.write(owner, day(20, 16), owner.ip, false, "repo.update_settings", map[string]any{"repo": rel, "settings": map[string]any{"private": false}}, "Updated settings"))

	// A repository renamed inside the organization; the Hub writes the
	// organization with its display capitals in data.to.
	mv := map[string]any{"name": org + "/ocr-invoices", "type": "model"}
	display := strings.ToUpper(org[:1]) + org[1:]
	add("repo-rename", "a repository renamed inside the organization (data.to with the organization's display capitals)",
		b.write(owner, day(9, 11), owner.ip, false, "repo.move", map[string]any{"repo": mv, "from": org + "/ocr-invoices", "to": display + "/ocr-invoices-v2"}, "Moved "+org+"/ocr-invoices"))

	// Members request token access; an admin other than the requester approves.
	ids = nil
	for i := range 6 {
		mm := members[40+i]
		at := day(3+i*4, 10)
		req := map[string]any{"tokenId": mm.tokenID, "user": mm.name}
		ids = append(ids,
			b.write(mm, at, mm.ip, false, "org.token_approval.authorization_request", req, "Requested access for a token"),
			b.write(owner, at.Add(2*time.Hour), owner.ip, false, "org.token_approval.authorization_request.authorized", req, "Authorized a token"))
	}
	add("token-approvals", "6 members ask for token access; an owner approves each, hours later", ids...)
}

// sort orders the events by createdAt, then writing order, and fills
// Month.Events.
func (b *monthBuilder) sort() {
	slices.SortStableFunc(b.events, func(x, y *event) int { return x.at.Compare(y.at) })
	b.m.Events = make([]json.RawMessage, len(b.events))
	for i, e := range b.events {
		b.m.Events[i] = e.raw
	}
}
