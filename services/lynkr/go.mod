module github.com/lynkr/lynkr/services/lynkr

go 1.26
