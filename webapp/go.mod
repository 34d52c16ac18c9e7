module github.com/loanflow/loans/webapp

go 1.26.0

require (
	github.com/loanflow/loans/devstack v0.0.0
	github.com/loanflow/loans/platform v0.0.0
)

replace github.com/loanflow/loans/gen => ../gen

replace github.com/loanflow/loans/platform => ../platform

replace github.com/loanflow/loans/devstack => ../devstack
