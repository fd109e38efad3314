package simulator

import (
	"fmt"
	"time"
)

// The attack story: an org admin's access token is stolen and used from a
// network the admin never worked from. InjectAttack writes the admin's
// ordinary history (so that the network is new for the token and the actor)
// and the attack itself.
const (
	// AttackActor is the org admin whose token is stolen.
	AttackActor   = "vera"
	attackActorID = "64f1a2b3c4d5e6f7a77ac0de"
	// AttackTokenID is the id of the stolen token (role write, last four
	// characters AttackTokenLast4).
	AttackTokenID    = "66c0ffee5e11ab1e0dd5a1e7"
	AttackTokenLast4 = "x7Qe"
	// AttackIP is the attacker's address: a hosting provider in Amsterdam
	// (AS14061, Netherlands), where vera never worked from.
	AttackIP = "188.166.23.45"
	// AttackHomeIP is vera's usual address (Bracknell, United Kingdom).
	AttackHomeIP = "81.2.69.142"
	// AttackOutsideOrg receives the repository moved out of the organization.
	AttackOutsideOrg = "vx-mirror"
	// AttackDeletedRepos is how many repositories the attacker deletes.
	AttackDeletedRepos = 12
)

var (
	attackLocation = location{"Amsterdam, North Holland, Netherlands", "Netherlands", "Amsterdam"}
	homeLocation   = location{"Bracknell, England, United Kingdom", "United Kingdom", "Bracknell"}
	attackUA       = "python-requests/2.32.3"
	homeUA         = "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
	homeScriptUA   = "huggingface_hub/0.27.0; python/3.12.7; torch/2.5.1"
)

// AttackStep is one step of the story and the events it wrote.
type AttackStep struct {
	// What the attacker did, in words.
	What string
	// Types are the event types written, in order, without repeats.
	Types []string
	// EventIDs are the _id of the events written.
	EventIDs []string
}

// Attack is what InjectAttack wrote.
type Attack struct {
	Actor, TokenID, TokenLast4, IP string
	// History are the IDs of the actor's ordinary events before the attack.
	History []string
	Steps   []AttackStep
	// Start and End are the createdAt of the first and the last attack event.
	Start, End time.Time
}

// EventIDs returns the IDs of every attack event (not the history).
func (a Attack) EventIDs() []string {
	var ids []string
	for _, s := range a.Steps {
		ids = append(ids, s.EventIDs...)
	}
	return ids
}

// InjectAttack writes the attack story into the window, its last event at
// end (zero: now), and returns what it wrote:
//
//   - history: over the three weeks before, vera administers the
//     organization from her office in the United Kingdom, in the browser and
//     with her write token (…x7Qe) from scripts;
//   - the attack, about ten minutes long: the same token, from a hosting
//     provider's network in the Netherlands, disables SSO and token approval,
//     creates a service-account token, makes three private repositories
//     public, moves one out of the organization, deletes twelve, adds a
//     secret to a Space, and exports the audit log.
//
// The events are ordinary export events (schema-valid, token and location
// set), so they reach huggingface_logs the way the Hub's would.
func (s *Server) InjectAttack(end time.Time) Attack {
	return s.injectAttack(end, true, true)
}

// InjectAttackHistory writes only the actor's ordinary history of
// InjectAttack(end), and InjectAttackSteps only the attack: together, at
// different times, they stage an attack that reaches the Hub's log after
// the history was collected.
func (s *Server) InjectAttackHistory(end time.Time) Attack {
	return s.injectAttack(end, true, false)
}

// InjectAttackSteps writes only the attack of InjectAttack(end).
func (s *Server) InjectAttackSteps(end time.Time) Attack {
	return s.injectAttack(end, false, true)
}

func (s *Server) injectAttack(end time.Time, history, steps bool) Attack {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if end.IsZero() {
		end = now
	}
	end = end.UTC().Truncate(time.Millisecond)
	a := Attack{Actor: AttackActor, TokenID: AttackTokenID, TokenLast4: AttackTokenLast4, IP: AttackIP}

	write := func(at time.Time, typ, msg string, data any, attack bool, withToken bool) string {
		ip, loc, ua := AttackHomeIP, homeLocation, homeUA
		if attack {
			ip, loc, ua = AttackIP, attackLocation, attackUA
		} else if withToken {
			ua = homeScriptUA
		}
		w := wireEvent{
			ID:        s.gen.nextID(now),
			CreatedAt: at.Format(createdAtLayout),
			Type:      typ,
			Message:   msg,
			IP:        mustJSON(ip),
			Location:  &loc,
			UserAgent: mustJSON(ua),
			Author: author{
				ID: attackActorID, User: AttackActor, Type: "user",
				AvatarURL: "https://cdn-avatars.huggingface.co/v1/production/uploads/" + attackActorID + "/avatar.png",
			},
		}
		if data != nil {
			w.Data = mustJSON(data)
		}
		if withToken {
			w.Token = &token{Type: "access_token", ID: AttackTokenID, Role: "write", Last4: AttackTokenLast4}
		}
		e := newEvent(w, at, ip)
		s.insert(e)
		return e.id
	}

	// History: a few ordinary admin actions a day over three weeks, ending
	// a day before the attack.
	histEnd := end.Add(-26 * time.Hour)
	for i := range 21 {
		if !history {
			break
		}
		day := histEnd.Add(-time.Duration(20-i) * 24 * time.Hour)
		for j, h := range historyDay(s.gen.org, i) {
			at := day.Add(time.Duration(j) * 37 * time.Minute)
			a.History = append(a.History, write(at, h.typ, h.msg, h.data, false, h.token))
		}
	}

	// The attack: the steps a minute or so apart, their events seconds
	// apart, the last one at end.
	type planned struct {
		step     int
		offset   time.Duration
		typ, msg string
		data     any
	}
	var plan []planned
	var offset time.Duration
	repo := func(name, kind string) map[string]any {
		return map[string]any{"name": s.gen.org + "/" + name, "type": kind}
	}
	type ev struct {
		typ, msg string
		data     any
	}
	step := func(what string, events ...ev) {
		if len(a.Steps) > 0 {
			offset += 70 * time.Second
		}
		for i, e := range events {
			if i > 0 {
				offset += time.Duration(3+i%5) * time.Second
			}
			plan = append(plan, planned{len(a.Steps), offset, e.typ, e.msg, e.data})
		}
		a.Steps = append(a.Steps, AttackStep{What: what})
	}

	step(fmt.Sprintf("stolen admin token (…%s) from a new network (AS14061, NL) disables SSO", AttackTokenLast4),
		ev{"org.settings.sso.disable", "Disabled SSO", map[string]any{"provider": "okta", "protocol": "saml", "enabled": false}})
	step("disables token approval",
		ev{"org.token_approval.disabled", "Disabled token approval", map[string]any{"enabled": false}})
	step("creates a service-account token",
		ev{"org.service_account.token.create", "Created service account token",
			map[string]any{"serviceAccount": "svc-backup", "tokenId": "66c0ffee5e11ab1e0dd5b0b0", "role": "write", "expiresAt": nil}})
	var public []ev
	for _, name := range []string{"llama-ft-7b", "sales-forecast", "ocr-invoices"} {
		public = append(public, ev{"repo.update_settings", "Updated settings of " + s.gen.org + "/" + name,
			map[string]any{"repo": repo(name, "model"), "settings": map[string]any{"private": false}}})
	}
	step("makes 3 private repositories public", public...)
	moved := repo("customer-embeddings", "model")
	step("moves a repository out of the organization",
		ev{"repo.move", "Moved " + moved["name"].(string) + " to " + AttackOutsideOrg + "/customer-embeddings",
			map[string]any{"repo": moved, "from": moved["name"], "to": AttackOutsideOrg + "/customer-embeddings"}})
	var deletes []ev
	for i := range AttackDeletedRepos {
		r := repo(fmt.Sprintf("%s-%02d", repoBases[i%len(repoBases)], i), repoKinds[i%len(repoKinds)])
		deletes = append(deletes, ev{"repo.delete", fmt.Sprintf("Deleted %s %s", r["type"], r["name"]), map[string]any{"repo": r, "private": true}})
	}
	step(fmt.Sprintf("deletes %d repositories", AttackDeletedRepos), deletes...)
	space := repo("chatbot-demo", "space")
	step("adds a secret to a Space",
		ev{"repo.add_secret", "Added secret EXFIL_WEBHOOK on " + space["name"].(string), map[string]any{"repo": space, "key": "EXFIL_WEBHOOK"}})
	step("exports the audit log with the stolen token",
		ev{ExportEventType, "Exported audit log", nil})

	a.Start, a.End = end.Add(-offset), end
	for _, p := range plan {
		if !steps {
			break
		}
		st := &a.Steps[p.step]
		st.EventIDs = append(st.EventIDs, write(a.Start.Add(p.offset), p.typ, p.msg, p.data, true, true))
		if len(st.Types) == 0 || st.Types[len(st.Types)-1] != p.typ {
			st.Types = append(st.Types, p.typ)
		}
	}
	return a
}

type historyEvent struct {
	typ, msg string
	data     any
	token    bool
}

// historyDay is vera's ordinary work on day i: repositories, collections,
// invitations, Space settings; every other day from a script with her token.
func historyDay(org string, i int) []historyEvent {
	name := repoBases[i%len(repoBases)]
	r := map[string]any{"name": org + "/" + name, "type": repoKinds[i%len(repoKinds)]}
	day := []historyEvent{
		{"repo.create", "Created " + org + "/" + name, map[string]any{"repo": r, "private": true}, i%2 == 0},
		{"repo.update_settings", "Updated settings of " + org + "/" + name, map[string]any{"repo": r, "settings": map[string]any{"private": true, "gated": "manual"}}, i%2 == 0},
	}
	switch i % 3 {
	case 0:
		day = append(day, historyEvent{"collection.create", "Created collection «Release candidates»",
			map[string]any{"collection": map[string]any{"slug": org + "/release-candidates-" + fmt.Sprint(i), "title": "Release candidates"}}, false})
	case 1:
		day = append(day, historyEvent{"org.invite_user", "Invited new-hire" + fmt.Sprint(i) + "@example.com",
			map[string]any{"email": "new-hire" + fmt.Sprint(i) + "@example.com", "role": "read"}, false})
	case 2:
		sp := map[string]any{"name": org + "/chatbot-demo", "type": "space"}
		day = append(day, historyEvent{"spaces.update_sleep_time", "Updated sleep time of " + org + "/chatbot-demo",
			map[string]any{"repo": sp, "sleepTimeSeconds": 3600}, true})
	}
	return day
}
