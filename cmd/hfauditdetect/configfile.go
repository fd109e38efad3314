package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"go.opentelemetry.io/collector/config/configopaque"
	"go.opentelemetry.io/collector/confmap"
	"go.opentelemetry.io/collector/confmap/provider/envprovider"
	"go.opentelemetry.io/collector/confmap/provider/fileprovider"
)

// fileConfig is the -config file of the watcher, read the way the collector
// reads its own: YAML, ${env:NAME} (or ${NAME}) expanded, unknown keys
// refused. Secrets are configopaque.String: printed as [REDACTED].
type fileConfig struct {
	ClickHouse struct {
		DSN      configopaque.String `mapstructure:"dsn"`
		User     string              `mapstructure:"user"`
		Password configopaque.String `mapstructure:"password"`
		Database string              `mapstructure:"database"`
	} `mapstructure:"clickhouse"`
	Every           time.Duration  `mapstructure:"every"`
	Settle          *time.Duration `mapstructure:"settle"`
	InitialLookback *time.Duration `mapstructure:"initial_lookback"`
	MaxDeliveryAge  *time.Duration `mapstructure:"max_delivery_age"`
	MinSeverity     string         `mapstructure:"min_severity"`
	Channels        struct {
		Webhooks []struct {
			URL configopaque.String `mapstructure:"url"`
		} `mapstructure:"webhooks"`
		Slack []struct {
			URL configopaque.String `mapstructure:"url"`
		} `mapstructure:"slack"`
		OTLP []struct {
			Endpoint configopaque.String            `mapstructure:"endpoint"`
			Headers  map[string]configopaque.String `mapstructure:"headers"`
		} `mapstructure:"otlp"`
	} `mapstructure:"channels"`
	// Detections holds per-detection (and per-alert) overrides, by name.
	Detections map[string]detectionOverride `mapstructure:"detections"`
}

type detectionOverride struct {
	Enabled     *bool          `mapstructure:"enabled"`
	MinSeverity string         `mapstructure:"min_severity"`
	Parameters  map[string]any `mapstructure:"parameters"`
}

// readConfigFile resolves path with the collector's confmap: the file
// provider, and the env provider for ${env:...}.
func readConfigFile(path string) (fileConfig, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fileConfig{}, err
	}
	r, err := confmap.NewResolver(confmap.ResolverSettings{
		URIs:              []string{"file:" + abs},
		ProviderFactories: []confmap.ProviderFactory{fileprovider.NewFactory(), envprovider.NewFactory()},
		DefaultScheme:     "env",
	})
	if err != nil {
		return fileConfig{}, err
	}
	defer func() { _ = r.Shutdown(context.Background()) }()
	conf, err := r.Resolve(context.Background())
	if err != nil {
		return fileConfig{}, fmt.Errorf("-config %s: %v", path, err)
	}
	var fc fileConfig
	if err := conf.Unmarshal(&fc); err != nil {
		return fileConfig{}, fmt.Errorf("-config %s: %v", path, err)
	}
	return fc, fc.validate()
}

// validate reports every problem at once.
func (fc fileConfig) validate() error {
	var errs []error
	for i, w := range fc.Channels.Webhooks {
		if w.URL == "" {
			errs = append(errs, fmt.Errorf("channels.webhooks[%d].url is empty", i))
		}
	}
	for i, s := range fc.Channels.Slack {
		if s.URL == "" {
			errs = append(errs, fmt.Errorf("channels.slack[%d].url is empty", i))
		}
	}
	for i, o := range fc.Channels.OTLP {
		if o.Endpoint == "" {
			errs = append(errs, fmt.Errorf("channels.otlp[%d].endpoint is empty", i))
		}
	}
	if fc.MinSeverity != "" && severityRank(fc.MinSeverity) == 0 {
		errs = append(errs, fmt.Errorf("min_severity %q: want Low, Medium, High or Critical", fc.MinSeverity))
	}
	for name, o := range fc.Detections {
		if o.MinSeverity != "" && severityRank(o.MinSeverity) == 0 {
			errs = append(errs, fmt.Errorf("detections.%s.min_severity %q: want Low, Medium, High or Critical", name, o.MinSeverity))
		}
	}
	return errors.Join(errs...)
}
