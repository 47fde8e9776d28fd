module github.com/lynkr/lynkr/tests

go 1.26
