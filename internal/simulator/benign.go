package simulator

import (
	"fmt"
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
func (g *generator) benignPayload(typ string) (any, string) {
	nonAdmin := []string{"read", "contributor", "write"}
	u := benignTeam[g.pick(len(benignTeam))].user.name
	switch typ {
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
	data, msg := g.benignPayload(typ)
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
