module github.com/hfauditlog/huggingfaceauditreceiver/e2e/compat

go 1.26.0

replace github.com/hfauditlog/huggingfaceauditreceiver => ../..

require (
	github.com/hfauditlog/huggingfaceauditreceiver v0.0.0-00010101000000-000000000000
	github.com/stretchr/testify v1.12.1
)

require (
	github.com/klauspost/compress v1.20.0 // indirect
	go.yaml.in/yaml/v3 v3.0.6 // indirect
)
