console.log('synood');
