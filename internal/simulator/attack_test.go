package simulator

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestInjectAttack(t *testing.T) {
	sim, ts := newSim(t, Options{InitialEvents: 500, Seed: 3, NoSelfExport: true})
	end := fixedClock().Add(-2 * time.Minute)
	a := sim.InjectAttack(end)

	events := export(t, ts, callOpts{})
	byID := map[string]map[string]any{}
	for _, ev := range events {
		require.NoError(t, validateEvent(ev, ExportEventType), "%v", ev)
		byID[ev["_id"].(string)] = ev
	}
	require.Len(t, events, 500+len(a.History)+len(a.EventIDs()), "history and attack are in the window")

	// The story, step by step, as the issue tells it.
	var types [][]string
	for _, s := range a.Steps {
		types = append(types, s.Types)
		require.NotEmpty(t, s.What)
	}
	assert.Equal(t, [][]string{
		{"org.settings.sso.disable"}, {"org.token_approval.disabled"}, {"org.service_account.token.create"},
		{"repo.update_settings"}, {"repo.move"}, {"repo.delete"}, {"repo.add_secret"}, {ExportEventType},
	}, types)
	assert.Len(t, a.Steps[5].EventIDs, AttackDeletedRepos)
	assert.Equal(t, end, a.End)
	assert.WithinRange(t, a.Start, end.Add(-20*time.Minute), end.Add(-5*time.Minute), "the attack takes minutes")

	// Every attack event: vera's token, from the new network, in order.
	var last time.Time
	for _, id := range a.EventIDs() {
		ev := byID[id]
		require.NotNil(t, ev, id)
		at, err := time.Parse(time.RFC3339, ev["createdAt"].(string))
		require.NoError(t, err)
		assert.True(t, at.After(last) && !at.Before(a.Start) && !at.After(a.End), "%s at %v", id, at)
		last = at
		assert.Equal(t, AttackIP, ev["ip"])
		assert.Equal(t, "Netherlands", ev["location"].(map[string]any)["country"])
		assert.Equal(t, AttackActor, ev["author"].(map[string]any)["user"])
		tok := ev["token"].(map[string]any)
		assert.Equal(t, AttackTokenID, tok["id"])
		assert.Equal(t, AttackTokenLast4, tok["last4"])
	}
	moved := byID[a.Steps[4].EventIDs[0]]["data"].(map[string]any)
	assert.Equal(t, "demo-org/customer-embeddings", moved["from"])
	assert.Equal(t, AttackOutsideOrg+"/customer-embeddings", moved["to"])
	for _, id := range a.Steps[3].EventIDs {
		assert.Equal(t, false, byID[id]["data"].(map[string]any)["settings"].(map[string]any)["private"])
	}

	// The history: the same actor and token, only from home, before the
	// attack, and never a type of the attack.
	withToken := 0
	attackTypes := map[string]bool{}
	for _, s := range a.Steps {
		for _, typ := range s.Types {
			attackTypes[typ] = true
		}
	}
	for _, id := range a.History {
		ev := byID[id]
		require.NotNil(t, ev, id)
		at, _ := time.Parse(time.RFC3339, ev["createdAt"].(string))
		assert.True(t, at.Before(a.Start.Add(-23*time.Hour)) && at.After(a.Start.Add(-23*24*time.Hour)), "history event at %v", at)
		assert.Equal(t, AttackHomeIP, ev["ip"])
		assert.Equal(t, AttackActor, ev["author"].(map[string]any)["user"])
		if tok, ok := ev["token"].(map[string]any); ok {
			assert.Equal(t, AttackTokenID, tok["id"])
			withToken++
		}
		if typ := ev["type"].(string); attackTypes[typ] && typ != "repo.update_settings" {
			t.Errorf("history event of an attack type %s", typ)
		} else if typ == "repo.update_settings" {
			assert.Equal(t, true, ev["data"].(map[string]any)["settings"].(map[string]any)["private"])
		}
	}
	assert.GreaterOrEqual(t, len(a.History), 60)
	assert.Greater(t, withToken, 20, "the token has a history from home")
}

func TestInjectAttackDefaultsToNow(t *testing.T) {
	sim, _ := newSim(t, Options{})
	a := sim.InjectAttack(time.Time{})
	assert.Equal(t, fixedClock().UTC().Truncate(time.Millisecond), a.End)
	assert.Equal(t, len(a.History)+len(a.EventIDs()), sim.Len())
}

// The history and the attack, injected apart, are the story of InjectAttack.
func TestInjectAttackInTwoParts(t *testing.T) {
	whole, _ := newSim(t, Options{Seed: 3, NoSelfExport: true})
	parts, ts := newSim(t, Options{Seed: 3, NoSelfExport: true})
	end := fixedClock().Add(-2 * time.Minute)
	a := whole.InjectAttack(end)

	h := parts.InjectAttackHistory(end)
	assert.Len(t, h.History, len(a.History))
	assert.Empty(t, h.EventIDs(), "no attack event with the history")
	assert.Len(t, export(t, ts, callOpts{}), len(a.History))

	st := parts.InjectAttackSteps(end)
	assert.Empty(t, st.History)
	assert.Len(t, st.EventIDs(), len(a.EventIDs()))
	assert.Equal(t, a.Start, st.Start)
	assert.Equal(t, a.End, st.End)
	for i := range a.Steps {
		assert.Equal(t, a.Steps[i].Types, st.Steps[i].Types)
	}
	assert.Len(t, export(t, ts, callOpts{}), len(a.History)+len(a.EventIDs()))
}
