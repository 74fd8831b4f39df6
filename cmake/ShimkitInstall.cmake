# install rules - placeholder
